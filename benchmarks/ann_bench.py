"""ANN benchmark: exact (IndexFlatIP) against IVF-PQ at 10k / 100k / 1M vectors of the default model's dimension.

Data: a documented synthetic clustered generator (see ``clustered_vectors``), because a 1M-vector real corpus is
not available here. Queries are fresh draws from the same distribution (never in the base set).

For each size: exact build time and queries/s; for the IVF-PQ factory: train time (on a sample), add time,
bytes per vector of the serialised index, and over nprobe: recall@10 against exact and queries/s, both for the
raw PQ ranking and with exact rescoring of the top ``--rescore`` candidates against the float vectors (the
search path medsearch uses: ANN candidates, then exact rescoring from the vectors file).

    python benchmarks/ann_bench.py --sizes 10000 100000 1000000 --out benchmarks/results/ann.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def clustered_vectors(n: int, dim: int = 256, clusters: int = 2000, seed: int = 0, chunk: int = 65536,
                      spectrum_decay: float = 0.8, spread: float = 0.6) -> np.ndarray:
    """Unit vectors shaped like contrastive embeddings: a Gaussian mixture with a power-law spectrum.

    Centres and within-cluster noise both have per-axis scale ``(i+1)**-spectrum_decay`` (a few strong directions,
    a long weak tail, as measured on CLIP-like embeddings), then a fixed random rotation and L2 normalisation.
    ``spread`` is the within-cluster scale relative to the centres. The same ``seed`` gives the same centres
    and rotation; callers vary ``seed + 1`` etc. only through ``draw_seed`` below.
    """
    return _Generator(dim, clusters, seed, spectrum_decay, spread).draw(n, draw_seed=seed, chunk=chunk)


class _Generator:
    def __init__(self, dim, clusters, seed, spectrum_decay, spread):
        rng = np.random.default_rng(seed)
        self.scale = ((np.arange(dim) + 1.0) ** -spectrum_decay).astype(np.float32)
        self.centres = (rng.standard_normal((clusters, dim)) * self.scale).astype(np.float32)
        q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.rotation = q.astype(np.float32)
        self.spread = spread
        self.dim = dim

    def draw(self, n: int, draw_seed: int, chunk: int = 65536) -> np.ndarray:
        rng = np.random.default_rng(10_000 + draw_seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            which = rng.integers(0, len(self.centres), m)
            noise = rng.standard_normal((m, self.dim)).astype(np.float32) * self.scale * self.spread
            x = (self.centres[which] + noise) @ self.rotation
            out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out


def default_factory(n: int, dim: int) -> str:
    """The indexer's IVF-PQ rule (indexer.ann.choose_factory), forced past its exact-search cut-off so that
    small sizes are compared too (the indexer itself picks Flat below ``EXACT_LIMIT`` vectors)."""
    from indexer.ann import choose_factory

    return choose_factory(n, dim, exact_limit=0)


def default_train_sample(n: int, factory: str) -> int:
    from indexer.ann import training_sample

    return len(training_sample(np.zeros((n, 1), dtype=np.float32), factory, seed=0))


def rescore(vectors: np.ndarray, queries: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Exact inner products on the candidate rows, top-k per query (-1 candidates are padding)."""
    safe = np.where(candidates < 0, 0, candidates)
    scores = np.einsum("qd,qcd->qc", queries, vectors[safe])
    scores[candidates < 0] = -np.inf
    order = np.argsort(-scores, axis=1)[:, :k]
    return np.take_along_axis(candidates, order, axis=1)


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def bound_training(index, opq_iters: int, opq_points: int, pq_points: int) -> dict:
    """Cap the k-means work of OPQ and PQ training (FAISS defaults: OPQ 50 iterations on 65k points, PQ on
    256 points per centroid = 65k): on 2 shared cores OPQ training alone took over 15 minutes at 10k vectors."""
    import faiss

    settings = {}
    if isinstance(index, faiss.IndexPreTransform):
        for i in range(index.chain.size()):
            vt = faiss.downcast_VectorTransform(index.chain.at(i))
            if isinstance(vt, faiss.OPQMatrix):
                vt.niter, vt.max_train_points = opq_iters, opq_points
                settings.update(opq_iters=opq_iters, opq_train_points=opq_points)
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    if isinstance(ivf, faiss.IndexIVFPQ):
        ivf.pq.cp.max_points_per_centroid = max(1, pq_points // ivf.pq.ksub)
        settings["pq_train_points"] = ivf.pq.cp.max_points_per_centroid * ivf.pq.ksub
    return settings


def bench_size(n: int, dim: int, n_queries: int, nprobes: list[int], rescore_k: list[int], train_sample: int,
               factory: str | None, seed: int, train_sample_cap: int = 131072, opq_iters: int = 4,
               opq_points: int = 4096, pq_points: int = 16384) -> dict:
    import faiss

    from indexer.ann import candidate_recall  # recall@10 of the top 10 against exact (k-intersection)

    gen = _Generator(dim, clusters=max(50, n // 500), seed=seed, spectrum_decay=0.8, spread=0.6)
    base, gen_s = timed(gen.draw, n, seed)
    queries = gen.draw(n_queries, seed + 1)
    k = 10

    flat = faiss.IndexFlatIP(dim)
    _, flat_build = timed(flat.add, base)
    flat.search(queries[:8], k)  # warm-up
    (_, truth), flat_s = timed(flat.search, queries, k)
    del flat

    factory = factory or default_factory(n, dim)
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    training = bound_training(index, opq_iters, opq_points, pq_points)
    train_sample = min(train_sample_cap, train_sample or default_train_sample(n, factory))
    sample = base[np.sort(np.random.default_rng(seed).choice(n, min(n, train_sample), replace=False))]
    _, train_s = timed(index.train, sample)
    _, add_s = timed(index.add, base)
    index_bytes = len(faiss.serialize_index(index))
    ivf = faiss.extract_index_ivf(index)

    sweep = []
    for nprobe in nprobes:
        if nprobe > ivf.nlist:
            continue
        ivf.nprobe = nprobe
        (_, found), s = timed(index.search, queries, k)
        exact_qps = n_queries / flat_s
        row = {"nprobe": nprobe, "recall_at_10": candidate_recall(found, truth), "qps": n_queries / s}
        row["speedup_vs_exact"] = row["qps"] / exact_qps
        row["rescored"] = {}
        for candidates in rescore_k:
            def search_rescore():
                _, cand = index.search(queries, candidates)
                return rescore(base, queries, cand, k)
            found_r, s_r = timed(search_rescore)
            row["rescored"][str(candidates)] = {
                "recall_at_10": candidate_recall(found_r, truth), "qps": n_queries / s_r,
                "speedup_vs_exact": n_queries / s_r / exact_qps}
        sweep.append(row)
        print(f"  n={n} nprobe={nprobe}: {row}", flush=True)
    return {
        "n": n, "dim": dim, "queries": n_queries, "generate_s": gen_s,
        "exact": {"build_s": flat_build, "qps": n_queries / flat_s, "bytes_per_vector": 4 * dim},
        "ivfpq": {
            "factory": factory, "train_sample": len(sample), "training_limits": training, "train_s": train_s, "add_s": add_s,
            "build_s": train_s + add_s, "bytes_per_vector": index_bytes / n,
            "rescore_candidates": rescore_k,
            "rescore_vectors_bytes_per_vector": 4 * dim,
            "sweep": sweep,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--nprobes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128])
    p.add_argument("--rescore", type=int, nargs="+", default=[40, 100],
                   help="candidate counts rescored exactly; 40 = the search path's 4 x k")
    p.add_argument("--train-sample", type=int, default=0, help="0 = the indexer's rule (64 x nlist)")
    p.add_argument("--threads", type=int, default=1,
                   help="faiss threads for every timing (1: stable figures on a shared 2-core machine)")
    p.add_argument("--train-cap", type=int, default=131072, help="most vectors the IVF k-means trains on")
    p.add_argument("--opq-iters", type=int, default=4)
    p.add_argument("--opq-points", type=int, default=4096)
    p.add_argument("--pq-points", type=int, default=16384)
    p.add_argument("--factory", default=None, help="faiss factory string; default: the indexer's choice")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/ann.json"))
    args = p.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.threads)
    results = []
    for n in args.sizes:
        print(f"size {n}", flush=True)
        results.append(bench_size(n, args.dim, args.queries, args.nprobes, args.rescore, args.train_sample,
                                  args.factory, args.seed, args.train_cap, args.opq_iters, args.opq_points,
                                  args.pq_points))
        write(args, results, faiss)
    write(args, results, faiss)


def write(args, results, faiss) -> None:
    machine = {"cpu_count": os.cpu_count(), "faiss_threads": faiss.omp_get_max_threads(),
               "faiss": faiss.__version__, "platform": platform.platform(), "gpu": False}
    data = {"benchmark": "ann", "generator": "clustered_vectors(clusters=n/500, spectrum_decay=0.8, spread=0.6)",
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "machine": machine, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
