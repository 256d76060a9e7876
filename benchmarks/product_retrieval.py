"""Retrieval measured exactly as a user meets it: index a pool of image/caption pairs with `medsearch index`, then
query every caption with ``open_index(...).search_text`` (dense mode, every other query default on) and every image
with ``search_image``; a hit is the pair's own item or an item with the identical caption (or, with --group-by,
the same case / article).

    python benchmarks/product_retrieval.py --manifest roco --root ../shared/data/roco --splits val test \
        --pool 1000 --work /tmp/pool [--model medsearch-default] [--group-by pmc_id]

The pool is a fixed random sample (seed 0) of the chosen splits; its images are copied under --work with an
items.csv for the generic ``csv`` manifest, indexed there, and the JSON result goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_pool(items, work: Path) -> Path:
    root = work / "archive"
    if root.exists():
        shutil.rmtree(root)
    (root / "images").mkdir(parents=True)
    with open(root / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "image", "text", "split"])
        for it in items:
            name = f"{it.key}{Path(it.image_path).suffix}"
            shutil.copyfile(it.image_path, root / "images" / name)
            w.writerow([it.key, f"images/{name}", it.text, it.split])
    return root


def main() -> None:
    from medsearch.archives import open_archive
    from medsearch.eval import metrics
    from medsearch.eval.retrieval import item_group, sample_pool
    from medsearch.index_dir import IndexDir
    from medsearch.search import open_index

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default="roco")
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "roco"))
    ap.add_argument("--splits", nargs="*", default=["test"])
    ap.add_argument("--pool", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--group-by", default=None)
    ap.add_argument("--tag", default="")
    ap.add_argument("--reuse-index", action="store_true", help="keep an index already built under --work")
    args = ap.parse_args()

    archive = open_archive(args.manifest, args.root)
    items = [it for it in archive.items() if it.image_path is not None and (it.text or "").strip()
             and it.split in args.splits]
    items = [items[i] for i in sample_pool(len(items), args.pool, args.seed)]
    index = args.work / "index"
    reuse = args.reuse_index and IndexDir(index).manifest.exists()
    root = args.work / "archive" if reuse else write_pool(items, args.work)
    if index.exists() and not reuse:
        shutil.rmtree(index)
    cmd = [sys.executable, "-c", "from medsearch.cli import main; main()", "index", "--manifest", "csv", "--root", str(root), "--index", str(index)]
    if args.model:
        cmd += ["--model", args.model]
    t0 = time.time()
    if not reuse:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"indexing failed: {done.stderr[-3000:]}")
    index_s = time.time() - t0

    keys = [it.key for it in items]
    texts = {it.key: (it.text or "").strip().casefold() for it in items}
    groups = {it.key: item_group(it, args.group_by) for it in items} if args.group_by else {}

    def hit_rank(query_key: str, results) -> float:
        for r in results:
            if r.key == query_key or texts.get(r.key) == texts[query_key] or (
                    groups and groups.get(r.key) is not None and groups.get(r.key) == groups[query_key]):
                return float(r.rank)
        return float("inf")

    from medsearch.errors import ImageLoadError

    ranks = {"image_to_text": [], "text_to_image": []}
    unreadable = []
    t0 = time.time()
    with open_index(index) as idx:
        model_id = idx.manifest.model_id if hasattr(idx.manifest, "model_id") else None
        for it in items:
            try:  # an image the indexer skipped as unreadable is left out of both directions
                image_hits = idx.search_image(it.image_path, k=10, target="text")
            except ImageLoadError:
                unreadable.append(it.key)
                continue
            ranks["image_to_text"].append(hit_rank(it.key, image_hits))
            ranks["text_to_image"].append(hit_rank(it.key, idx.search_text(it.text, k=10, target="image", mode="dense")))
    query_s = time.time() - t0
    recall = {direction: metrics.recall_with_ci(r, (1, 5, 10), n_boot=1000, seed=0) for direction, r in ranks.items()}
    out = {"benchmark": "product_retrieval", "manifest": args.manifest, "splits": args.splits, "pool": len(items),
           "seed": args.seed, "model_id": model_id, "search": "open_index().search_text(mode='dense') / search_image, defaults on",
           "group_by": args.group_by, "queries": len(ranks["text_to_image"]), "unreadable_images": unreadable, "index_seconds": round(index_s, 1), "query_seconds": round(query_s, 1),
           "recall": recall}
    RESULTS.mkdir(exist_ok=True)
    name = f"product_retrieval_{args.manifest}_{'-'.join(args.splits)}_{len(items)}{args.tag}_{str(model_id).replace('@', '-')}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=1) + "\n")
    for direction, values in recall.items():
        print(direction, " ".join(f"{k} {v['value']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]" for k, v in values.items()))
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
