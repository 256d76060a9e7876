"""Cost of delete, prune-sized deletes and compact on indexes of N items (SQLite store, synthetic unit vectors).

An index of N items (each an image vector and a text vector, dim 256, captions, one label) is written through the
real writer (vector files, store rows, FAISS, manifest). Then, timed:

- delete 100 keys (``indexer.maintain.delete_items(keys=...)``), and 10% of the items by filter (a split);
- compact (new vector files + FAISS without the dead 10%, store ids renumbered, manifest swapped);
- a query before and after (exact FAISS up to 50k, IVF-PQ beyond), to show nothing got slower.

    python benchmarks/lifecycle_bench.py --sizes 10000 100000 --out benchmarks/results/lifecycle.json
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_report import write_report  # a sibling script

DIM = 256


def build(index_dir: Path, n: int, seed: int = 0) -> float:
    from medsearch.archives.item import Item
    from medsearch.index_dir import IndexDir
    from medsearch.models.base import ModelIdentity
    from medsearch.models.fake import FakeEncoder
    from medsearch.store import Store

    from indexer.embed import Embedded
    from indexer.reader import Pending
    from indexer.writer import IndexWriter, open_index_dir

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    encoder = FakeEncoder(dim=DIM)  # names the model in the manifest; the vectors are drawn here
    encoder.model_id = "synthetic-256"
    encoder.identity = ModelIdentity(name="synthetic", device="cpu")
    manifest = open_index_dir(index_dir, encoder, None)
    with Store.open(IndexDir(index_dir).default_db_url) as store:
        archive_id = store.archive_id("synthetic", "/nowhere", None)
        writer = IndexWriter(index_dir, manifest, store, archive_id)
        for begin in range(0, n, 10_000):
            count = min(10_000, n - begin)
            vectors = rng.standard_normal((2, count, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
            writer.write([
                Embedded(Pending(Item(key=f"k{i:08d}", text=f"caption {i} effusion", labels=["l"],
                                      split=f"s{i % 10}", modality="CT"), f"h{i}"),
                         vectors[0, j], vectors[1, j])
                for j, i in enumerate(range(begin, begin + count))
            ])
            writer.commit()
        writer.finalize()
    return time.perf_counter() - start


def query_ms(index_dir: Path, rng, repeats: int = 50) -> float:
    import medsearch

    queries = rng.standard_normal((repeats, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with medsearch.open_index(index_dir) as idx:
        idx.search_vector(queries[0], k=10, target="text")  # load
        start = time.perf_counter()
        for q in queries:
            idx.search_vector(q, k=10, target="text")
        return 1000 * (time.perf_counter() - start) / repeats


def measure(n: int, work: Path) -> dict:
    from medsearch.index_dir import read_manifest

    from indexer import maintain

    index_dir = work / f"idx-{n}"
    rng = np.random.default_rng(1)
    build_s = build(index_dir, n)
    before_ms = query_ms(index_dir, rng)
    keys = [f"k{i:08d}" for i in rng.choice(n, size=100, replace=False)]
    start = time.perf_counter()
    maintain.delete_items(index_dir, keys=keys)
    delete_keys_s = time.perf_counter() - start
    start = time.perf_counter()
    by_filter = maintain.delete_items(index_dir, filters={"split": "s3"})
    delete_filter_s = time.perf_counter() - start
    dead = read_manifest(index_dir).modalities["text"]
    result = maintain.compact(index_dir)
    after_ms = query_ms(index_dir, rng)
    manifest = read_manifest(index_dir).modalities["text"]
    return {
        "items": n, "build_s": round(build_s, 2), "factory_before": dead.factory, "factory_after": manifest.factory,
        "delete_100_keys_s": round(delete_keys_s, 3),
        "delete_by_filter": {"items": by_filter.deleted, "seconds": round(delete_filter_s, 3),
                             "items_per_s": round(by_filter.deleted / delete_filter_s)},
        "compact": {"vectors_before": sum(result.before.values()), "vectors_after": sum(result.after.values()),
                    "seconds": round(result.seconds, 2),
                    "vectors_per_s": round(sum(result.before.values()) / result.seconds)},
        "query_ms_before": round(before_ms, 2), "query_ms_after": round(after_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="delete/compact cost")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as work:
        rows = [measure(n, Path(work)) for n in args.sizes]
    report = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
              "store": "sqlite (the index's own meta.sqlite)", "dim": DIM, "results": rows}
    write_report(report, args.out)


if __name__ == "__main__":
    main()
