"""Build medsearch/data/concepts.json: display names and facet groups for the UMLS concept ids (CUIs) that ROCO
gives as labels, from ROCO's own captions.

    python -m medsearch.archives.build_concepts --roco ../shared/data/roco

ROCO lists, per figure, the CUIs a concept extractor found in its caption, but not their names. Each curated
clinical term below (a finding or a body region, with its synonyms) names the CUIs whose captions contain it: a CUI
seen in at least MIN_ROWS captions gets the term when at least MIN_SHARE of them contain one of its words and no
other curated term explains the CUI better. CUIs the extractor attached to common words ("right", "arrow") match
no term and stay unnamed, so they never become facets. The output is committed; rerun this after editing terms.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

MIN_ROWS = 3
MIN_SHARE = 0.7
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "concepts.json"

# group -> {display name: words or phrases that name it in a caption}
TERMS: dict[str, dict[str, tuple[str, ...]]] = {
    "finding": {
        "pneumothorax": ("pneumothorax", "pneumothoraces"),
        "pleural effusion": ("pleural effusion", "pleural effusions"),
        "pericardial effusion": ("pericardial effusion",),
        "effusion": ("effusion", "effusions"),
        "fracture": ("fracture", "fractures", "fractured"),
        "dislocation": ("dislocation", "dislocated"),
        "tumour": ("tumor", "tumour", "tumors", "tumours", "neoplasm"),
        "mass": ("mass", "masses"),
        "cyst": ("cyst", "cysts", "cystic"),
        "abscess": ("abscess", "abscesses"),
        "haematoma": ("hematoma", "haematoma", "hematomas"),
        "haemorrhage": ("hemorrhage", "haemorrhage", "bleeding", "hemorrhagic"),
        "oedema": ("edema", "oedema"),
        "stenosis": ("stenosis", "stenoses", "stenotic"),
        "occlusion": ("occlusion", "occluded"),
        "obstruction": ("obstruction", "obstructed", "obstructive"),
        "thrombosis": ("thrombosis", "thrombus", "thrombi", "thrombosed"),
        "embolism": ("embolism", "emboli", "embolus"),
        "aneurysm": ("aneurysm", "aneurysms", "aneurysmal"),
        "pseudoaneurysm": ("pseudoaneurysm",),
        "dissection": ("dissection",),
        "metastasis": ("metastasis", "metastases", "metastatic"),
        "carcinoma": ("carcinoma",),
        "cancer": ("cancer",),
        "lymphoma": ("lymphoma",),
        "sarcoma": ("sarcoma",),
        "adenoma": ("adenoma",),
        "meningioma": ("meningioma",),
        "glioma": ("glioma", "glioblastoma"),
        "lymphadenopathy": ("lymphadenopathy",),
        "consolidation": ("consolidation",),
        "pneumonia": ("pneumonia",),
        "atelectasis": ("atelectasis",),
        "emphysema": ("emphysema",),
        "fibrosis": ("fibrosis",),
        "bronchiectasis": ("bronchiectasis",),
        "tuberculosis": ("tuberculosis",),
        "calcification": ("calcification", "calcifications", "calcified"),
        "infarction": ("infarction", "infarct", "infarcts"),
        "ischaemia": ("ischemia", "ischaemia", "ischemic"),
        "stroke": ("stroke",),
        "dilatation": ("dilatation", "dilation", "dilated"),
        "perforation": ("perforation", "perforated"),
        "ascites": ("ascites",),
        "pneumoperitoneum": ("pneumoperitoneum",),
        "hydronephrosis": ("hydronephrosis",),
        "hydrocephalus": ("hydrocephalus",),
        "hernia": ("hernia", "herniation"),
        "fistula": ("fistula",),
        "stone": ("stone", "stones", "calculus", "calculi"),
        "cardiomegaly": ("cardiomegaly",),
        "nodule": ("nodule", "nodules", "nodular"),
        "opacity": ("opacity", "opacities"),
        "thickening": ("thickening", "thickened"),
        "atrophy": ("atrophy", "atrophic"),
        "inflammation": ("inflammation", "inflammatory"),
        "necrosis": ("necrosis", "necrotic"),
        "rupture": ("rupture", "ruptured"),
        "erosion": ("erosion", "erosions"),
        "sclerosis": ("sclerosis", "sclerotic"),
        "extravasation": ("extravasation",),
        "invasion": ("invasion", "invading"),
        "infiltration": ("infiltration", "infiltrate", "infiltrates"),
        "lesion": ("lesion", "lesions"),
        "cholecystitis": ("cholecystitis",),
        "appendicitis": ("appendicitis",),
        "diverticulitis": ("diverticulitis",),
        "dysplasia": ("dysplasia", "dysplastic"),
        "injury": ("injury", "injuries", "trauma"),
    },
    "body region": {
        "chest": ("chest",), "thorax": ("thorax", "thoracic"), "abdomen": ("abdomen", "abdominal"),
        "pelvis": ("pelvis", "pelvic"), "head": ("head",), "neck": ("neck",), "brain": ("brain", "cerebral"),
        "skull": ("skull",), "spine": ("spine", "spinal"), "vertebra": ("vertebra", "vertebrae", "vertebral"),
        "lung": ("lung", "lungs", "pulmonary"), "liver": ("liver", "hepatic"), "kidney": ("kidney", "kidneys", "renal"),
        "heart": ("heart", "cardiac"), "aorta": ("aorta", "aortic"), "pancreas": ("pancreas", "pancreatic"),
        "spleen": ("spleen", "splenic"), "gallbladder": ("gallbladder",), "bladder": ("bladder",),
        "colon": ("colon", "colonic"), "bowel": ("bowel",), "stomach": ("stomach", "gastric"),
        "oesophagus": ("esophagus", "oesophagus", "esophageal", "oesophageal"), "thyroid": ("thyroid",),
        "breast": ("breast",), "hip": ("hip",), "knee": ("knee",), "shoulder": ("shoulder",),
        "femur": ("femur", "femoral"), "tibia": ("tibia", "tibial"), "mandible": ("mandible", "mandibular"),
        "maxilla": ("maxilla", "maxillary"), "teeth": ("tooth", "teeth", "dental"), "orbit": ("orbit", "orbital"),
        "mediastinum": ("mediastinum", "mediastinal"), "adrenal gland": ("adrenal",),
        "uterus": ("uterus", "uterine"), "ovary": ("ovary", "ovarian"), "prostate": ("prostate",),
        "carotid artery": ("carotid",), "coronary artery": ("coronary",), "pulmonary artery": ("pulmonary artery",),
        "portal vein": ("portal vein",), "ureter": ("ureter", "ureteral", "ureteric"), "urethra": ("urethra",),
        "lymph node": ("lymph node", "lymph nodes"), "bile duct": ("bile duct", "biliary"),
        "ventricle": ("ventricle", "ventricular"), "atrium": ("atrium", "atrial"),
        "diaphragm": ("diaphragm",), "rib": ("rib", "ribs"), "sinus": ("sinus", "sinuses"),
        "retroperitoneum": ("retroperitoneal", "retroperitoneum"),
    },
}


def _words(caption: str) -> str:
    return " " + " ".join(re.findall(r"[a-z]+", caption.lower())) + " "


def build(rows: list[dict]) -> dict[str, dict]:
    """CUI -> {"name", "group", "rows"} for every CUI a curated term explains."""
    texts = [_words(row["caption"]) for row in rows]
    by_cui: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        for cui in dict.fromkeys(c.strip() for c in (row.get("cuis") or "").split(";") if c.strip()):
            by_cui[cui].append(i)
    term_rows = {(group, name): {i for i, text in enumerate(texts) if any(f" {w} " in text for w in words)}
                 for group, terms in TERMS.items() for name, words in terms.items()}
    concepts = {}
    for cui, indices in sorted(by_cui.items()):
        if len(indices) < MIN_ROWS:
            continue
        scores = []
        for (group, name), matching in term_rows.items():
            share = sum(i in matching for i in indices) / len(indices)
            if share >= MIN_SHARE:
                # the more specific term wins: the larger share, then the rarer term
                scores.append((share, -len(matching), group, name))
        if scores:
            share, _, group, name = max(scores)
            concepts[cui] = {"name": name, "group": group, "rows": len(indices)}
    return concepts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roco", type=Path, required=True, help="ROCO folder with captions.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with open(args.roco / "captions.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    concepts = build(rows)
    terms = {name: {"group": group, "words": list(words)} for group, names in TERMS.items()
             for name, words in names.items()}
    args.out.write_text(json.dumps({"source": "ROCO captions.csv (medsearch.archives.build_concepts)",
                                    "terms": terms, "concepts": concepts}, indent=1, sort_keys=True) + "\n")
    groups = Counter(c["group"] for c in concepts.values())
    print(f"{len(concepts)} concepts named ({dict(groups)}) -> {args.out}")


if __name__ == "__main__":
    main()
