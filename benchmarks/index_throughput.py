"""Indexing throughput: end-to-end ``indexer.pipeline.build_index`` items/s against encoder-only items/s,
on the same items, encoder and device, in one run.

Encoder-only: the items' images are decoded and transformed first (untimed), then only the encoder's
``encode_image_batch`` and ``encode_texts`` calls are timed, batch by batch. End-to-end: a fresh index directory
built from the same items (read, decode, embed, write FAISS + store). Ratio = end-to-end / encoder-only.
Each side is measured ``--repeats`` times, alternating, and the best of each is kept (shared, drifting CPU load).

    python benchmarks/index_throughput.py --manifest roco --root /work/shared/data/roco --split test \
        --out benchmarks/results/index_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


class ListArchive:
    """The chosen items behind the Archive interface the pipeline reads (name, items(), skipped)."""

    def __init__(self, archive, items):
        self.name = archive.name
        self.manifest = getattr(archive, "manifest", None)
        self.root = getattr(archive, "root", None)
        self._items = items
        self.skipped = []

    def items(self):
        yield from self._items

    def __iter__(self):
        return self.items()

    def size_hint(self):
        return len(self._items)


def encoder_only(items, encoder, batch_size: int) -> dict:
    from medsearch.errors import BadItem
    from medsearch.imaging import load_image

    transform = encoder.image_transform()
    arrays, texts = [], []
    for item in items:
        try:
            arrays.append(transform(load_image(item.image_path)))
            texts.append(item.text or "")
        except BadItem:
            continue
    image_s = text_s = 0.0
    for i in range(0, len(arrays), batch_size):
        batch = np.stack(arrays[i:i + batch_size])
        t = time.perf_counter()
        encoder.encode_image_batch(batch)
        image_s += time.perf_counter() - t
        t = time.perf_counter()
        encoder.encode_texts(texts[i:i + batch_size])
        text_s += time.perf_counter() - t
    n = len(arrays)
    return {"items": n, "image_s": image_s, "text_s": text_s, "seconds": image_s + text_s,
            "items_per_s": n / (image_s + text_s)}


def end_to_end(archive, encoder, batch_size: int, workers: int | None) -> dict:
    from indexer.pipeline import IndexOptions, build_index

    with tempfile.TemporaryDirectory() as tmp:
        kwargs = {"batch_size": batch_size}
        if workers is not None:
            kwargs["workers"] = workers
        t = time.perf_counter()
        summary = build_index(archive, Path(tmp) / "idx", encoder, IndexOptions(**kwargs))
        seconds = time.perf_counter() - t
    as_dict = summary.to_dict() if hasattr(summary, "to_dict") else getattr(summary, "__dict__", {})
    return {"seconds": seconds, "summary": json.loads(json.dumps(as_dict, default=str))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="demo")
    p.add_argument("--root", default=None)
    p.add_argument("--split", default=None)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--model", default="medsearch-default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=None, help="pipeline decode workers (default: the pipeline's)")
    p.add_argument("--repeats", type=int, default=2, help="measure each side this many times, alternating")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/index_throughput.json"))
    args = p.parse_args()

    import torch

    from medsearch.archives import open_archive
    from medsearch.models import load_encoder

    archive = open_archive(args.manifest, args.root)
    items = [it for it in archive.items() if it.image_path is not None and (args.split is None or it.split == args.split)]
    items = items[: args.limit] if args.limit else items
    encoder = load_encoder(args.model, device=args.device)
    encoder.encode_texts(["warm up"])
    # alternate the two measurements (A B B A ...) and keep the best of each: the CPU is shared and its load drifts
    only_runs, e2e_runs = [], []
    for r in range(args.repeats):
        order = ("only", "e2e") if r % 2 == 0 else ("e2e", "only")
        for what in order:
            if what == "only":
                only_runs.append(encoder_only(items, encoder, args.batch_size))
                print(f"encoder-only: {only_runs[-1]['items_per_s']:.1f} items/s", flush=True)
            else:
                e2e_runs.append(end_to_end(ListArchive(archive, items), encoder, args.batch_size, args.workers))
                print(f"end-to-end: {e2e_runs[-1]['seconds']:.1f}s", flush=True)
    only = max(only_runs, key=lambda x: x["items_per_s"])
    e2e = min(e2e_runs, key=lambda x: x["seconds"])
    e2e["items_per_s"] = only["items"] / e2e["seconds"]
    ratio = e2e["items_per_s"] / only["items_per_s"]
    print(f"end-to-end: {e2e['seconds']:.1f}s = {e2e['items_per_s']:.1f} items/s; ratio {ratio:.2f} (target >= 0.9)")
    result = {
        "benchmark": "index_throughput", "archive": archive.name, "split": args.split, "items": len(items),
        "model_id": encoder.model_id, "device": args.device, "batch_size": args.batch_size,
        "repeats": args.repeats, "encoder_only": only, "end_to_end": e2e, "ratio": ratio, "target": 0.9,
        "all_runs": {"encoder_only_items_per_s": [x["items_per_s"] for x in only_runs],
                     "end_to_end_s": [x["seconds"] for x in e2e_runs]},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "gpu": torch.cuda.is_available()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
