"""Cache the frozen towers' outputs for the default model's training data (run once; training reads the caches).

    python benchmarks/model_features.py --out FEAT [--views 1]

Sources (each a FeatureCache directory under --out, see medsearch.train.features):
- ``roco``:   ROCO radiology figures + captions, every split and licence (captions.csv; split and licence per row);
- ``medpix``: MedPix 2.0 CT/MR images + captions (train and dev, split by case; label = case id, diagnosis);
- ``nih``:    NIH ChestX-ray14 64 px train images with a sentence made from their finding labels.
``--views N`` adds N augmented image views (1 was used) per source (``<name>-aug<k>``: random crop 0.7-1.0 of the area,
rotation within +-10 degrees, brightness/contrast/gamma jitter; seeded per item and view, so reruns match),
so that heads and the unfrozen last image stage see augmented images without running the frozen trunk again.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from medsearch.archives.item import Item

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the repository


def roco_items(root: Path) -> list[Item]:
    from medsearch.archives import open_archive

    archive = open_archive("roco", str(root))
    items = [it for it in archive.items() if it.image_path is not None and it.text]
    for it in items:
        it.labels = [x for x in it.labels if x.startswith("C")] + [f"article:{it.extra.get('pmc_id')}"]
    return items


def medpix_items(root: Path) -> list[Item]:
    """Read MedPix 2.0's published layout (Descriptions.json + Case_topic.json + splitted_dataset/)."""
    cases = {c["U_id"]: c for c in json.loads((root / "Case_topic.json").read_text())}
    split_of = {}
    for split in ("train", "dev"):
        path = root / "splitted_dataset" / f"descriptions_{split}.jsonl"
        for line in path.read_text().splitlines():
            if line.strip():
                split_of[json.loads(line)["image"]] = split
    items = []
    for rec in json.loads((root / "Descriptions.json").read_text()):
        d = rec.get("Description") or {}
        caption = (d.get("Caption") or "").strip()
        image = root / "images" / f"{rec['image']}.png"
        if not caption or not image.exists():
            continue
        case = cases.get(rec["U_id"], {}).get("Case", {})
        dx = (case.get("Case Diagnosis") or case.get("Title") or "").strip().casefold()
        labels = [f"case:{rec['U_id']}"] + ([f"dx:{dx}"] if dx else [])
        items.append(Item(key=rec["image"], image_path=image, text=caption, labels=labels,
                          split=split_of.get(rec["image"], "train"), licence="research and education use",
                          modality=rec.get("Type"), extra={"case": rec["U_id"]}))
    return items


FINDING_WORDS = {
    "Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Consolidation": "consolidation",
    "Edema": "pulmonary edema", "Effusion": "pleural effusion", "Emphysema": "emphysema", "Fibrosis": "fibrosis",
    "Hernia": "hiatal hernia", "Infiltration": "pulmonary infiltrate", "Mass": "lung mass", "Nodule": "lung nodule",
    "Pleural_Thickening": "pleural thickening", "Pneumonia": "pneumonia", "Pneumothorax": "pneumothorax",
}


def nih_sentence(labels: list[str], view: str) -> str:
    view = {"PA": "PA", "AP": "AP"}.get(view, "")
    film = f"{view} chest radiograph".strip()
    if labels == ["No Finding"]:
        return f"Normal {film} with no acute cardiopulmonary abnormality."
    words = [FINDING_WORDS.get(x, x.lower()) for x in labels]
    found = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"{film[0].upper() + film[1:]} showing {found}."


def nih_items(root: Path) -> list[Item]:
    items = []
    with open(root / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            labels = [x for x in row["finding_labels"].split("|") if x]
            items.append(Item(key=row["image"], image_path=root / "images" / row["image"] if not row["image"].startswith("images")
                              else root / row["image"], text=nih_sentence(labels, row.get("view", "")),
                              labels=[f"nih:{x}" for x in labels], split=row["split"], licence="CC0",
                              modality="XR"))
    return items


SOURCES = {"roco": (roco_items, DATA / "roco"), "medpix": (medpix_items, DATA / "medpix"),
           "nih": (nih_items, DATA / "nih-cxr14-64px")}


class Augment:
    """PIL RGB -> augmented PIL RGB, deterministic per (key, view)."""

    def __call__(self, image, key: str, view: int):
        from PIL import Image, ImageEnhance

        seed = int.from_bytes(hashlib.sha256(f"{key}|{view}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        w, h = image.size
        area = rng.uniform(0.7, 1.0)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = min(w, max(8, round(w * np.sqrt(area * aspect)))), min(h, max(8, round(h * np.sqrt(area / aspect))))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        image = image.crop((x0, y0, x0 + cw, y0 + ch))
        image = image.rotate(float(rng.uniform(-10, 10)), resample=Image.BILINEAR, expand=False)
        image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.8, 1.2)))
        image = ImageEnhance.Contrast(image).enhance(float(rng.uniform(0.8, 1.2)))
        gamma = float(np.exp(rng.uniform(-0.2, 0.2)))
        lut = [min(255, round(255 * (i / 255) ** gamma)) for i in range(256)] * 3
        return image.point(lut)


def extract_view(items: list[Item], view: int, image_top: int = 1, batch_size: int = 32) -> dict:
    """Augmented image features only (pooled + the last-stage input map), rows aligned with ``items``."""
    import torch

    from medsearch.imaging import load_image
    from medsearch.models import towers

    model = towers.build_image_tower()
    trunk, top = towers.ImageTrunk(model, image_top), towers.image_top(model, image_top)
    transform, augment = towers.LetterboxTransform(), Augment()
    pooled, maps = [], []
    for s in range(0, len(items), batch_size):
        batch = [transform(augment(load_image(it.image_path), it.key, view)) for it in items[s : s + batch_size]]
        with torch.inference_mode():
            fmap = trunk(torch.from_numpy(np.stack(batch)).contiguous(memory_format=torch.channels_last))
            pooled.append(top(fmap).float().numpy())
            maps.append(fmap.half().numpy())
    return {"image_pooled": np.concatenate(pooled), "image_map": np.concatenate(maps)}


def main() -> None:
    import torch

    from medsearch.train.features import FeatureCache, extract

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sources", nargs="*", default=list(SOURCES))
    ap.add_argument("--views", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.sources:
        reader, root = SOURCES[name]
        items = reader(root)
        directory = args.out / name
        if not (directory / "items.json").exists():
            t0 = time.time()
            skipped = []
            cache = extract(items, image_top=1, text_top=1, skipped=skipped)
            cache.meta.update(source=name, skipped=[s.where for s in skipped])
            cache.save(directory)
            print(f"{name}: {len(cache)} items cached in {time.time() - t0:.0f} s ({len(skipped)} skipped)", flush=True)
        cache = FeatureCache.load(directory)
        by_key = {it.key: it for it in items}
        kept = [by_key[k] for k in cache.keys]
        for view in range(1, args.views + 1):
            vdir = args.out / f"{name}-aug{view}"
            if (vdir / "features.safetensors").exists():
                continue
            t0 = time.time()
            tensors = extract_view(kept, view)
            vdir.mkdir(parents=True, exist_ok=True)
            from safetensors.numpy import save_file

            save_file(tensors, str(vdir / "features.safetensors"))
            print(f"{name} view {view}: {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
