"""Ray engine against the local engine: items/s building the same index from the same archive on this machine.

Each engine builds a fresh index directory from the archive (same encoder, batch size and device). Local: the
``TorchEmbedder`` (encoder in this process). Ray: a local Ray started once before the timed runs (its start-up
is reported apart), decode tasks and ``--actors`` encoder actors. Best of ``--repeats`` runs per engine.

    python benchmarks/ray_vs_local.py --manifest demo --model medsearch-default --actors 1 \
        --out benchmarks/results/ray_vs_local.json
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from bench_report import write_report  # a sibling script


def run_once(engine: str, archive_name: str, root, model: str, work: Path, batch_size: int, actors: int | None):
    from medsearch.archives import open_archive
    from medsearch.models import load_encoder

    from indexer.engines import make_embedder
    from indexer.pipeline import IndexOptions, build_index

    encoder = load_encoder(model, device="cpu")
    embedder = make_embedder(engine, encoder, batch_size, workers=0, actors=actors)
    out = Path(tempfile.mkdtemp(dir=work, prefix=f"{engine}-"))
    summary = build_index(open_archive(archive_name, root), out / "idx", encoder,
                          IndexOptions(batch_size=batch_size, progress=False, embedder=embedder))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="Ray vs local indexing throughput")
    parser.add_argument("--manifest", default="demo")
    parser.add_argument("--root", default=None)
    parser.add_argument("--model", default="medsearch-default")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import ray

    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - start
    results: dict[str, list] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory(prefix="ray-vs-local-") as work:
        for _ in range(args.repeats):
            for engine in ("local", "ray"):
                s = run_once(engine, args.manifest, args.root, args.model, Path(work), args.batch_size, args.actors)
                results[engine].append({"indexed": s.indexed, "seconds": round(s.total_seconds, 2),
                                        "items_per_s": round(s.items_per_s, 2),
                                        "embed_s": round(s.stage_seconds.get("embed", 0.0), 2)})
    ray.shutdown()
    best = {engine: max(runs, key=lambda r: r["items_per_s"]) for engine, runs in results.items()}
    report = {
        "archive": args.manifest, "model": args.model, "batch_size": args.batch_size, "ray_actors": args.actors,
        "ray_cpus": args.cpus, "ray_start_s": round(ray_start_s, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "runs": results, "best": best,
        "ratio_ray_over_local": round(best["ray"]["items_per_s"] / best["local"]["items_per_s"], 3),
    }
    write_report(report, args.out)


if __name__ == "__main__":
    main()
