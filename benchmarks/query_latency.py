"""Query latency: cold `medsearch query` wall time (fresh subprocess each run) and warm in-process
``Index.search`` of a text p50/p99 against its parts measured alone on the same queries: text encoding
(``Index.embed_text``: normalise, lexicon, template ensemble), the raw FAISS search of the query vector (``k`` x
the rescoring candidates), and the dense search of that vector (``Index.search(vector=...)``). Ratios = warm p50
/ (encode p50 + raw FAISS p50) and / (encode p50 + dense search p50).

The queries (``--queries``): "phrasing", every phrasing in medsearch/eval/phrasing_groups.json (~180 clinical
queries, written for figure captions), or "judged", the text queries ``medsearch bench search`` judges on this
index (IU X-ray MeSH findings with their abbreviation, lay and negated forms: what a report archive is searched
for, and heavier full-text work: common findings are denied in thousands of sentences).

    python benchmarks/query_latency.py --index idx-demo --out benchmarks/results/query_latency.json
    python benchmarks/query_latency.py --index idx-iu --target text --queries judged --decompose --out ...

``--decompose`` also times the parts of a hybrid query (``decomposition``): where its time goes beyond the encode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def percentiles(values) -> dict:
    v = np.asarray(values) * 1000.0
    return {"p50_ms": float(np.percentile(v, 50)), "p90_ms": float(np.percentile(v, 90)),
            "p99_ms": float(np.percentile(v, 99)), "mean_ms": float(v.mean()), "n": int(len(v))}


def cold_runs(index: Path, query: str, runs: int, model: str | None) -> dict:
    exe = shutil.which("medsearch")
    cmd = [exe] if exe else [sys.executable, "-m", "medsearch"]
    cmd += ["query", query, "--index", str(index), "--k", "10"]
    if model:
        cmd += ["--model", model]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"`{' '.join(cmd)}` failed: {done.stderr.strip()}")
    return {"command": " ".join(cmd), "runs": runs, "seconds": times, "median_s": float(np.median(times)),
            "min_s": float(min(times)), "max_s": float(max(times))}


def warm_runs(index_path: Path, queries: list[str], model: str | None, target: str, candidates: int) -> dict:
    """Each query searched on one opened index, and beside it its parts alone: encoding, the raw FAISS search,
    and the dense search of the vector (``Index.search(vector=...)``: ANN, exact rescoring, records; what a
    query cost before hybrid search)."""
    from medsearch.search import open_index

    index = open_index(index_path, model=model)
    # loads the parts, and starts what only a hybrid query uses (the full-text thread, its statements), with
    # words that are not among the queries timed
    index.search("warm up the encoder", k=10, target=target)
    ann = index.target_snapshot(target).ann  # the loaded FAISS index, to time its raw search alone
    total, encode, faiss_s, dense, stages = [], [], [], [], []
    for q in queries:
        t = time.perf_counter()
        outcome = index.search(q, k=10, target=target)
        total.append(time.perf_counter() - t)
        stages.append(dict(outcome.timings))
        t = time.perf_counter()
        vector = index.embed_text(q, target=target)
        encode.append(time.perf_counter() - t)
        t = time.perf_counter()
        ann.search(vector.reshape(1, -1).astype(np.float32), candidates)
        faiss_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.search(vector=vector, k=10, target=target)
        dense.append(time.perf_counter() - t)
    index.close()
    stage_means = {}
    for key in sorted({k for s in stages for k in s}):
        stage_means[key + "_ms"] = float(np.mean([s.get(key, 0.0) for s in stages]) * 1000)
    t, e, f, d = percentiles(total), percentiles(encode), percentiles(faiss_s), percentiles(dense)
    return {
        "queries": len(queries), "target": target, "faiss_k": candidates,
        "search_text": t, "encode": e, "faiss_search": f, "dense_search_of_vector": d,
        # the budget, search_text within 1.2x of encode + search, with "search" read two ways
        "ratio_p50": t["p50_ms"] / (e["p50_ms"] + f["p50_ms"]),
        "ratio_p99": t["p99_ms"] / (e["p99_ms"] + f["p99_ms"]),
        "ratio_p50_to_encode_plus_dense_search": t["p50_ms"] / (e["p50_ms"] + d["p50_ms"]),
        "stage_means_from_last_timings": stage_means,
    }


def phrasing_queries(index_path: Path, model: str | None) -> list[str]:
    from medsearch.eval.robustness import load_groups

    return [q for g in load_groups() for q in g["queries"]]


def judged_queries(index_path: Path, model: str | None) -> list[str]:
    """The distinct texts of the judged MeSH queries of ``bench search`` on this index (it must hold IU X-ray
    reports with MeSH labels)."""
    from medsearch.eval.search_bench import all_records, expand_kinds, mesh_queries
    from medsearch.search import open_index

    index = open_index(index_path, model=model)
    records = all_records(index, "text")
    plain = mesh_queries(records)
    index.close()
    if not plain:
        raise SystemExit(f"{index_path} has no MeSH-labelled reports: --queries judged needs an IU X-ray index")
    return list(dict.fromkeys(q.text for q in expand_kinds(plain, {r.item_id for r in records})))


QUERY_SETS = {"phrasing": phrasing_queries, "judged": judged_queries}


def decomposition(index_path: Path, queries: list[str], model: str | None, target: str) -> dict:
    """Where a hybrid query's time goes beyond the encode, each part timed per query, interleaved: the encode
    alone; the full-text work alone (what the hybrid search's thread runs: the lexical ranking, the assertion sets,
    the lexical top k's records and explanations); the full-text work then the encode, in one thread; the encode
    with the full-text work beside it in the index's thread pool (as a hybrid search runs them); a text search in
    dense mode with no assertion check (no full-text work at all: the encode, the ANN search, the records and
    explanations of the hits); and the hybrid search itself. p50s in ms."""
    from medsearch.lexical.query import parse
    from medsearch.query.fusion import DEFAULT_FUSION, assertion_sets, lexical_ranking
    from medsearch.search import open_index
    from medsearch.search.hybrid import PREPARED_HITS, prepared_hits

    index = open_index(index_path, model=model)
    index.search("warm up the encoder", k=10, target=target)
    store, pool = index.store, index._lexical_pool()
    depth = max(10, DEFAULT_FUSION.depth)

    def full_text(q):
        clauses = parse(q).clauses
        found = lexical_ranking(store, target, clauses, None, depth, 10)
        if clauses:
            assertion_sets(store, clauses)
        prepared_hits(store, target, found, clauses, PREPARED_HITS * 10)

    def encode(q):
        index.embed_text(q, target=target)

    def beside(q):
        job = pool.submit(full_text, q)
        encode(q)
        job.result()

    parts = {"encode": encode, "full_text": full_text, "full_text_then_encode": lambda q: (full_text(q), encode(q)),
             "encode_with_full_text_beside": beside,
             "dense_mode_search": lambda q: index.search(q, k=10, target=target, mode="dense", negation=False),
             "hybrid_search": lambda q: index.search(q, k=10, target=target)}
    times: dict[str, list[float]] = {name: [] for name in parts}
    for q in queries:
        for name, run in parts.items():
            t = time.perf_counter()
            run(q)
            times[name].append(time.perf_counter() - t)
    index.close()
    return {name: percentiles(v) for name, v in times.items()}


def main() -> None:
    from medsearch.index_dir import IndexDir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--model", default=None, help="default: the index's model")
    p.add_argument("--target", default="image")
    p.add_argument("--cold-runs", type=int, default=5)
    p.add_argument("--queries", choices=QUERY_SETS, default="phrasing")
    p.add_argument("--decompose", action="store_true",
                   help="also time the parts of a hybrid query (see decomposition), on the same queries")
    p.add_argument("--candidates", type=int, default=None,
                   help="k of the raw FAISS search (default: the search path's own candidate count for k=10)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/query_latency.json"))
    args = p.parse_args()

    queries = QUERY_SETS[args.queries](args.index, args.model)
    load_before = os.getloadavg()  # the cores are shared: times are only comparable at a similar load
    cold = cold_runs(args.index, "CT pulmonary angiogram showing pulmonary embolism", args.cold_runs, args.model)
    print(f"cold CLI query: median {cold['median_s']:.2f}s over {cold['runs']} runs (target <= 1.5 s)", flush=True)
    from medsearch.query.ranking import candidate_count

    candidates = args.candidates or candidate_count(10, 1 << 62)
    warm = warm_runs(args.index, queries, args.model, args.target, candidates)
    print(f"warm search_text p50 {warm['search_text']['p50_ms']:.1f} ms, p99 {warm['search_text']['p99_ms']:.1f} ms; "
          f"encode p50 {warm['encode']['p50_ms']:.1f} ms + raw FAISS p50 {warm['faiss_search']['p50_ms']:.2f} ms "
          f"(dense search of the vector p50 {warm['dense_search_of_vector']['p50_ms']:.2f} ms); ratio p50 "
          f"{warm['ratio_p50']:.2f} to encode + raw FAISS, {warm['ratio_p50_to_encode_plus_dense_search']:.2f} to "
          f"encode + dense search (target <= 1.2)")
    parts = decomposition(args.index, queries, args.model, args.target) if args.decompose else None
    if parts:
        print("parts, p50 ms: " + ", ".join(f"{name} {v['p50_ms']:.2f}" for name, v in parts.items()))
    manifest = json.loads(IndexDir(args.index).manifest.read_text())
    import faiss
    import torch

    result = {
        "benchmark": "query_latency", "index": str(args.index), "model_id": manifest.get("model_id"),
        "index_counts": {k: v.get("count") for k, v in (manifest.get("modalities") or {}).items()}
        if isinstance(manifest.get("modalities"), dict) else None,
        "query_set": args.queries, "cold_cli": cold, "warm": warm, "decomposition": parts, "targets": {"cold_cli_s": 1.5, "warm_ratio": 1.2},
        "machine": {"cpu_count": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg(), "torch_threads": torch.get_num_threads(),
                    "faiss_threads": faiss.omp_get_max_threads(), "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
