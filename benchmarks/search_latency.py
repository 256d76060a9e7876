"""Query latency of ``Index.search_vector`` per stage (filter, ANN, rescoring, metadata), with and without filters.

Synthetic but shaped like the real thing: clustered unit vectors (``ann_bench.clustered_vectors``), the indexer's
factory choice and nprobe tuning (``indexer.ann.build``), and a SQLite store with one row per vector carrying a
modality (3 values), a licence (4 values, 'CC BY*' matches 80%) and labels (one of 20 common, 1% carry 'rare').
Queries are fresh vectors from the same distribution; recall@10 is measured against brute force over the rows
each filter allows.

    python benchmarks/search_latency.py --n 100000 --queries 200 --out benchmarks/results/search_latency.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from collections import Counter
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ann_bench import _Generator  # noqa: E402  (sibling scripts, not a package)
from bench_report import write_report  # noqa: E402

FILTERS = {
    "none": None,
    "licence CC BY* (80%)": {"licence": "CC BY*"},
    "modality CT (~33%)": {"modality": "CT"},
    "label rare (~1%)": {"labels": ["rare"]},
}


def row_fields(i: int) -> dict:
    return {
        "modality": ("CT", "MR", "CR")[i % 3],
        "licence": ("CC BY", "CC BY-NC", "CC BY-NC-SA", "CC0")[(i // 3) % 5 % 4],
        "labels": [f"finding{i % 20}"] + (["rare"] if i % 100 == 7 else []),
        "split": ("train", "val", "test")[i % 3],
    }


def build(index_dir: Path, vectors: np.ndarray, factory: str | None = None) -> None:
    from indexer.ann import build as build_ann
    from indexer.ann import save

    from medsearch.archives.item import ItemFields
    from medsearch.index_dir import IndexDir, IndexManifest, ModalityEntry, sha256_file, write_manifest
    from medsearch.lexical.stamp import current_analysis
    from medsearch.store import NewItem, Store

    files = IndexDir(index_dir)
    start = time.perf_counter()
    ann = build_ann(vectors, factory=factory)
    save(ann, files.faiss("image"))
    np.save(files.vectors("image"), vectors)
    print(f"ann {ann.factory} nprobe={ann.nprobe}: {time.perf_counter() - start:.1f}s", flush=True)
    start = time.perf_counter()
    store = Store.open(files.default_db_url)
    archive = store.archive_id("synthetic", str(index_dir), "synthetic")
    for lo in range(0, len(vectors), 10_000):
        store.add_items(archive, [
            NewItem(ItemFields(key=f"k{i}", image_path=f"/data/{i}.png", text=f"caption {i}", **row_fields(i)),
                    content_hash=str(i), image_vector_id=i)
            for i in range(lo, min(lo + 10_000, len(vectors)))
        ])
    store.close()
    print(f"store: {time.perf_counter() - start:.1f}s", flush=True)
    write_manifest(index_dir, IndexManifest(
        model_id="synthetic", model_name="fake", dim=vectors.shape[1], analysis=current_analysis(),
        modalities={"image": ModalityEntry(ann.factory, len(vectors), files.faiss("image").name,
                                           files.vectors("image").name, sha256_file(files.faiss("image")),
                                           ann.nprobe)},
    ))


def allowed_mask(n: int, filters: dict | None) -> np.ndarray:
    if filters is None:
        return np.ones(n, dtype=bool)
    rows = [row_fields(i) for i in range(n)]
    keep = np.ones(n, dtype=bool)
    if "licence" in filters:
        keep &= np.array([r["licence"].startswith("CC BY") for r in rows])
    if "modality" in filters:
        keep &= np.array([r["modality"] == filters["modality"] for r in rows])
    for label in filters.get("labels", []):
        keep &= np.array([label in r["labels"] for r in rows])
    return keep


def measure(index, vectors: np.ndarray, queries: np.ndarray, filters: dict | None, k: int) -> dict:
    mask = allowed_mask(len(vectors), filters)
    allowed_ids = np.flatnonzero(mask)
    stages: dict[str, list[float]] = {}
    recalls, plans = [], Counter()
    index.search(vector=queries[0], k=k, filters=filters)  # warm: loads, SQLite page cache
    for q in queries:
        outcome = index.search(vector=q, k=k, filters=filters)
        plans[outcome.plan] += 1
        for stage, seconds in outcome.timings.items():
            stages.setdefault(stage, []).append(seconds * 1000)
        scores = vectors[allowed_ids] @ q
        truth = set(allowed_ids[np.argsort(-scores)[:k]].tolist())
        recalls.append(len(truth & {int(h.key[1:]) for h in outcome.hits}) / k)
    return {
        "allowed": int(mask.sum()),
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "ms_median": {s: round(float(np.median(v)), 3) for s, v in stages.items() if s not in ("encode", "load")},
        "ms_p95_total": round(float(np.percentile(stages["total"], 95)), 3),
        "plans": dict(plans),
    }


def main() -> None:
    from medsearch.index_dir import IndexDir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--factory", help="faiss factory (default: the indexer's choice for --n)")
    parser.add_argument("--index-dir", type=Path, help="keep the built index here and reuse it on the next run")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from medsearch.search import open_index

    generator = _Generator(args.dim, 2000, 0, 0.8, 0.6)
    vectors = generator.draw(args.n, draw_seed=0)
    queries = generator.draw(args.queries, draw_seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index_dir or Path(tmp)
        index_dir.mkdir(parents=True, exist_ok=True)
        if not IndexDir(index_dir).manifest.exists():
            build(index_dir, vectors, args.factory)
        index = open_index(index_dir)
        factory, nprobe = index.manifest.modalities["image"].factory, index.manifest.modalities["image"].nprobe
        results = {}
        for name, filters in FILTERS.items():
            results[name] = measure(index, vectors, queries, filters, args.k)
        index.close()
    report = {
        "factory": factory, "nprobe": nprobe, "n": args.n, "dim": args.dim, "queries": args.queries, "k": args.k,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "python": platform.python_version(),
        "results": results,
    }
    write_report(report, args.out)


if __name__ == "__main__":
    main()
