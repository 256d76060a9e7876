"""Build the bundled demo archive (medsearch/data/demo) from a ROCO folder.

    python -m medsearch.archives.build_demo --roco /work/shared/data/roco

Takes only rows licensed CC BY or CC0 (redistributable with attribution), drops rows whose image does not decode
or whose caption is very short or repeated, and picks a deterministic sample: per split a fixed quota, spread
round-robin over the coarse modalities guessed from the captions, rows ordered by a hash of their roco_id.
Writes images/ (re-encoded as JPEG quality 85 when that is smaller), captions.csv (ROCO's columns),
ATTRIBUTION.csv (one line per image) and NOTICE.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
from collections import defaultdict
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from medsearch.archives.licences import REDISTRIBUTABLE
from medsearch.archives.modality import guess_modality_word

QUOTAS = {"train": 200, "val": 40, "test": 60}
MIN_CAPTION_CHARS = 30
JPEG_QUALITY = 85
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "demo"
IMAGE_SOURCE = "Kaushalya/medclip@e6e01fb (ROCO images resized to <=256 px)"
CAPTION_SOURCE = "razorx89/roco-dataset@a1f0ad6 (figure caption from the PMC article)"
ATTRIBUTION_COLUMNS = ["roco_id", "pmc_id", "licence", "source_url", "image", "image_source", "caption_source", "changes"]


def _order(row: dict) -> str:
    return hashlib.sha256(row["roco_id"].encode()).hexdigest()


def _decodes(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, UnidentifiedImageError):
        return False


def candidates(roco: Path, rows: list[dict]) -> list[dict]:
    seen_captions: set[str] = set()
    chosen = []
    for row in sorted(rows, key=_order):
        caption = row["caption"].strip()
        if row["license"] not in REDISTRIBUTABLE or len(caption) < MIN_CAPTION_CHARS or caption in seen_captions:
            continue
        if not _decodes(roco / row["image"]):
            continue
        seen_captions.add(caption)
        chosen.append(row)
    return chosen


def stratified_sample(rows: list[dict], quotas: dict[str, int]) -> list[dict]:
    """Per split, take rows round-robin over the guessed modalities (rarest modalities are not crowded out)."""
    sample = []
    for split, quota in quotas.items():
        groups: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            if row["split"] == split:
                groups[guess_modality_word(row["caption"]) or "other"].append(row)
        queues = [groups[name] for name in sorted(groups)]
        taken: list[dict] = []
        while len(taken) < quota and any(queues):
            for queue in queues:
                if queue and len(taken) < quota:
                    taken.append(queue.pop(0))
        sample.extend(sorted(taken, key=lambda r: r["roco_id"]))
    return sample


def compact_jpeg(source: Path) -> tuple[bytes, bool]:
    """The smaller of the original bytes and a quality-85 re-encoding; True when re-encoded."""
    original = source.read_bytes()
    with Image.open(source) as image:
        image = image.convert("L" if image.mode in ("L", "LA", "I", "I;16", "1") else "RGB")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    encoded = buffer.getvalue()
    return (encoded, True) if len(encoded) < len(original) else (original, False)


def write_demo(roco: Path, out: Path, rows: list[dict], header: list[str]) -> int:
    if out.exists():
        shutil.rmtree(out / "images", ignore_errors=True)
    (out / "images").mkdir(parents=True, exist_ok=True)
    total = 0
    attribution = []
    for row in rows:
        data, reencoded = compact_jpeg(roco / row["image"])
        (out / row["image"]).write_bytes(data)
        total += len(data)
        changes = "resized to <=256 px by the image source" + (f"; re-encoded JPEG quality {JPEG_QUALITY}" if reencoded else "")
        attribution.append({
            "roco_id": row["roco_id"], "pmc_id": row["pmc_id"], "licence": row["license"],
            "source_url": f"https://www.ncbi.nlm.nih.gov/pmc/articles/{row['pmc_id']}/",
            "image": row["image"], "image_source": IMAGE_SOURCE, "caption_source": CAPTION_SOURCE, "changes": changes,
        })
    _write_csv(out / "captions.csv", header, rows)
    _write_csv(out / "ATTRIBUTION.csv", ATTRIBUTION_COLUMNS, attribution)
    return total


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roco", type=Path, required=True, help="ROCO folder with captions.csv and images/")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: the packaged demo)")
    args = parser.parse_args(argv)
    with open(args.roco / "captions.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames), list(reader)
    sample = stratified_sample(candidates(args.roco, rows), QUOTAS)
    size = write_demo(args.roco, args.out, sample, header)
    by_split = {s: sum(r["split"] == s for r in sample) for s in QUOTAS}
    print(f"demo: {len(sample)} images, {size / 1e6:.2f} MB of images, splits {by_split} -> {args.out}")


if __name__ == "__main__":
    main()
