"""Image decoding benchmark: medsearch.imaging.load_image per file, the CPU cost in front of every encoder.

Times each of the DICOM samples (decode + display mapping to 8-bit RGB) and a slice of the ROCO JPEGs, on one
core, best of ``--repeat`` runs per file, and writes per-file milliseconds plus images/s for each group.

    python benchmarks/imaging_bench.py --data /work/shared/data --roco 200 --out benchmarks/results/imaging.json
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path

from medsearch.errors import ImageLoadError
from medsearch.imaging import load_image


def time_file(path: Path, repeat: int) -> tuple[float | None, str]:
    """Best wall time in ms and the outcome ("WxH" or the ImageLoadError reason)."""
    best = None
    outcome = ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            image = load_image(path)
            outcome = f"{image.width}x{image.height}"
        except ImageLoadError as exc:
            return None, exc.reason
        elapsed = (time.perf_counter() - start) * 1000
        best = elapsed if best is None else min(best, elapsed)
    return best, outcome


def group(paths: list[Path], repeat: int) -> dict:
    rows, total_ms, failures = [], 0.0, 0
    for path in paths:
        ms, outcome = time_file(path, repeat)
        rows.append({"file": path.name, "ms": None if ms is None else round(ms, 2), "outcome": outcome})
        if ms is None:
            failures += 1
        else:
            total_ms += ms
    loaded = len(paths) - failures
    return {
        "files": len(paths), "loaded": loaded, "failed": failures,
        "images_per_s": round(loaded / (total_ms / 1000), 1) if total_ms else None,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--roco", type=int, default=200, help="number of ROCO JPEGs (sorted by name)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    samples = args.data / "dicom-samples"
    with (samples / "manifest.csv").open(newline="") as f:
        dicoms = [samples / row["file"] for row in csv.DictReader(f)]
    jpegs = sorted((args.data / "roco" / "images").glob("*.jpg"))[: args.roco]
    result = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "dicom": group(dicoms, args.repeat),
        "roco_jpeg": group(jpegs, args.repeat),
    }
    for name in ("dicom", "roco_jpeg"):
        g = result[name]
        print(f"{name:10s} {g['loaded']}/{g['files']} loaded, {g['images_per_s']} images/s (one core, best of {args.repeat})")
    for row in result["dicom"]["rows"]:
        print(f"  {row['file']:42s} {row['ms'] if row['ms'] is not None else '-':>8} ms  {row['outcome']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
