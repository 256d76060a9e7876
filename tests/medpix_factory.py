"""A tiny archive in MedPix 2.0's published layout, written by tests (no real MedPix data).

Each case has 2-3 images; each image is a small PNG whose coarse pattern depends on the case's diagnosis (so the
fake encoder, which sees an 8x8 thumbnail, finds images of the same diagnosis close) plus a little noise.
"""

from __future__ import annotations

import json
from pathlib import Path

# (U_id, Type, diagnosis, findings, split)
CASES = [
    ("MPX0001", "CT", "Pulmonary Embolism", "Filling defect in the right pulmonary artery. No pleural effusion.", "train"),
    ("MPX0002", "CT", "Pulmonary Embolism", "Saddle embolus. Right heart strain. No pneumothorax.", "train"),
    ("MPX0003", "MR", "Meningioma", "Extra-axial dural-based enhancing mass. No midline shift.", "train"),
    ("MPX0004", "MR", "Glioblastoma", "Ring-enhancing mass crossing the corpus callosum. Surrounding edema.", "train"),
    ("MPX0005", "CT", "Appendicitis", "Dilated appendix with periappendiceal fat stranding. No free air.", "train"),
    ("MPX0006", "MR", "Meningioma", "Dural tail sign. The mass enhances homogeneously. No midline shift. No hydrocephalus.", "dev"),
    ("MPX0007", "CT", "Appendicitis", "Appendicolith. No abscess.", "dev"),
]
SHADES = {"Pulmonary Embolism": 40, "Meningioma": 120, "Glioblastoma": 150, "Appendicitis": 220}


def pattern(shade: int):
    """The 8x8 pattern of one diagnosis, upsampled to 24x24."""
    import numpy as np

    coarse = np.random.default_rng(shade).integers(30, 226, (8, 8))
    return np.kron(coarse, np.ones((3, 3)))


def write_png(path: Path, shade: int, seed: int, noise: int = 12) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.clip(pattern(shade) + rng.integers(-noise, noise + 1, (24, 24)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def make_medpix(root: Path, cases=CASES, images_per_case: int = 2, split_files: bool = True) -> Path:
    """Write ROOT/Descriptions.json, Case_topic.json, images/*.png and splitted_dataset/*.jsonl; return ROOT."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    descriptions, topics, by_split = [], [], {}
    for n, (uid, kind, diagnosis, findings, split) in enumerate(cases):
        names = [f"{uid}_synpic{n * 10 + j}" for j in range(images_per_case + (n % 2))]
        for j, name in enumerate(names):
            write_png(root / "images" / f"{name}.png", SHADES.get(diagnosis, 80), seed=n * 10 + j)
            descriptions.append({
                "Type": kind, "U_id": uid, "image": name,
                "Description": {
                    "ACR Codes": "1.3" if kind == "MR" else "6.-1", "Age": "93" if j == 0 and n == 0 else "45",
                    "Caption": f"{kind} image {j + 1} of {diagnosis.lower()}: {findings.split('.')[0].lower()}.",
                    "Figure Part": None, "Modality": "MR - T2 weighted" if kind == "MR" else "CT w/contrast (IV)",
                    "Plane": ["Axial", "Coronal", "Sagittal"][j % 3], "Sex": "female" if n % 2 else "male",
                },
                "Location": "Brain and Neuro" if kind == "MR" else "Chest, Pulmonary",
                "Location Category": "Head" if kind == "MR" else "Thorax",
            })
        topics.append({
            "U_id": uid, "TAC": names if kind == "CT" else [], "MRI": names if kind == "MR" else [],
            "Case": {
                "Title": diagnosis, "History": f"{40 + n}-year-old with symptoms, case {uid}.", "Exam": "N/A",
                "Findings": findings, "Differential Diagnosis": f"{diagnosis}, other", "Case Diagnosis": diagnosis,
                "Diagnosis By": "Imaging",
            },
            "Topic": {"Title": diagnosis, "Disease Discussion": f"About {diagnosis}.", "ACR Code": "1.3",
                      "Category": "Neoplasm"},
        })
        by_split.setdefault(split, ([], []))
        by_split[split][0].extend(d for d in descriptions if d["U_id"] == uid)
        by_split[split][1].append(topics[-1])
    (root / "Descriptions.json").write_text(json.dumps(descriptions), encoding="utf-8")
    (root / "Case_topic.json").write_text(json.dumps(topics), encoding="utf-8")
    if split_files:
        (root / "splitted_dataset").mkdir(exist_ok=True)
        for split, (descs, cases_) in by_split.items():
            for prefix, records in (("descriptions", descs), ("data", cases_)):
                lines = "\n".join(json.dumps(r) for r in records) + "\n"
                (root / "splitted_dataset" / f"{prefix}_{split}.jsonl").write_text(lines, encoding="utf-8")
    return root
