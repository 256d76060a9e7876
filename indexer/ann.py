"""FAISS index choice, training, nprobe tuning, save and load. Inner product on L2-normalised vectors.

Rules (``choose_factory``):

- fewer than ``EXACT_LIMIT`` (50,000) vectors: ``Flat`` (exact). At 50k x 512 float32 that is 100 MB and a
  brute-force query costs ~25M multiply-adds (a few ms on one core): exact is cheap, needs no training and has
  recall 1. An IVF index below this size would also be short of training points: nlist = 4*sqrt(50k) ~ 900
  lists wants 39*900 ~ 35k training vectors, i.e. most of the data.
- from ``EXACT_LIMIT`` up: ``IVF{nlist},PQ{M}``. nlist = 4*sqrt(N) rounded to a power of two, clipped to
  [64, 65536] and to N/39 (FAISS wants >= 39 training points per list). M is the largest divisor of d with
  M <= 64 (<= 64 bytes per vector code) and d/M >= 8: FAISS k-means on 2-4 dim sub-vectors trained ~15x
  slower here for a few points of recall. No OPQ by default: on 2 CPU cores OPQ16 multiplied training time
  by 10 for no recall gain on our test data (pass ``--factory "OPQ32,IVF1024,PQ32"`` to get it). No in-index
  refine stage: search rescoring reads the exact float vectors anyway, so the index only has to put the true
  neighbours among the candidates. Polysemous training is switched off (unused, and 97% of build time).

``nprobe`` is chosen at build time (``tune_nprobe``): the smallest power of two whose candidate recall
(exact top-10 found among the ANN top ``RESCORE_CANDIDATES``) on a seeded held-out sample reaches
``RECALL_TARGET``; if PQ caps recall below the target, the first nprobe within 0.5 points of the best.

GPU: when ``faiss.get_num_gpus() > 0`` training and adding run on GPU 0 and the index comes back to the CPU
for saving; the same code runs on the CPU otherwise. Saved indexes are always CPU indexes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from medsearch.errors import BadQuery
from medsearch.query.ranking import candidate_count

EXACT_LIMIT = 50_000
MAX_CODE_BYTES = 64
MIN_SUBVECTOR_DIMS = 8
MIN_POINTS_PER_LIST = 39
TRAIN_POINTS_PER_LIST = 64  # training sample size = this * nlist (FAISS suggests 30..256)
RECALL_TARGET = 0.95
RECALL_K = 10
# nprobe is tuned for the candidate pool a k=10 search really rescores (medsearch.query.ranking decides it)
RESCORE_CANDIDATES = candidate_count(10, 1 << 62)
TUNE_QUERIES = 500
# Growing IVF indexes (writer.drifted): `index --retrain` trains again when the lists' imbalance factor
# (sum of squared list sizes * nlist / n^2; 1 = perfectly even, FAISS's own measure) passes IMBALANCE_RETRAIN,
# which doubles the expected scan cost of a query, or the collection grew past GROWTH_RETRAIN times the vectors
# the quantiser was trained on (new data may lie where the old centroids are sparse).
IMBALANCE_RETRAIN = 2.0
GROWTH_RETRAIN = 2.0
TUNE_FLOPS = 2e10  # budget for the exact ground truth: fewer held-out queries on big collections (>= 100)


@dataclass
class AnnIndex:
    """A CPU FAISS index plus what was decided when it was built."""

    index: faiss.Index
    factory: str
    nprobe: int | None  # None for exact indexes

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    def add(self, vectors: np.ndarray) -> None:
        add_vectors(self.index, vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        set_nprobe(self.index, self.nprobe)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def choose_factory(n: int, d: int, exact_limit: int = EXACT_LIMIT) -> str:
    """Vector count and dimension -> FAISS factory string (see the module docstring for the rules)."""
    if n < exact_limit:
        return "Flat"
    return f"IVF{ivf_lists(n)},PQ{pq_code_size(d)}"


def ivf_lists(n: int) -> int:
    """4*sqrt(N) rounded to a power of two, clipped to [64, 65536], and never more than N/39 lists."""
    nlist = 2 ** round(math.log2(4 * math.sqrt(max(n, 1))))
    nlist = min(max(nlist, 64), 65536)
    most = max(1, n // MIN_POINTS_PER_LIST)
    return min(nlist, 2 ** int(math.log2(most)))


def pq_code_size(d: int) -> int:
    """Largest M dividing d with M <= 64 bytes and at least ``MIN_SUBVECTOR_DIMS`` dimensions per sub-quantiser."""
    for m in range(min(MAX_CODE_BYTES, max(1, d // MIN_SUBVECTOR_DIMS)), 0, -1):
        if d % m == 0:
            return m
    return 1


def factory_class(factory: str) -> str:
    """'OPQ64,IVF1024,PQ64' -> 'OPQ,IVF,PQ': the shape of an index, ignoring its sizes."""
    return re.sub(r"[0-9_x]+", "", factory.replace(" ", ""))


def nlist_of(factory: str) -> int | None:
    match = re.search(r"IVF(\d+)", factory)
    return int(match.group(1)) if match else None


def training_points_needed(factory: str) -> int:
    """The fewest vectors FAISS can train ``factory`` on: one per IVF list, 2**bits (256 by default) per PQ
    codebook (OPQ's included); 0 for an index with nothing to train. ``build`` counts them before training
    (``training_sample`` never holds fewer than this when there are this many vectors)."""
    pq = re.search(r"PQ\d+(?:x(\d+))?", factory)
    return max(nlist_of(factory) or 0, 2 ** int(pq.group(1) or 8) if pq else 0)


FACTORY_HINT = "leave out --factory (exact search below 50,000 vectors, IVF-PQ sized from their number above)"


def new_index(d: int, factory: str) -> faiss.Index:
    """An empty index of ``factory`` for ``d``-d vectors; a string FAISS cannot build is a BadQuery."""
    try:
        index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:  # FAISS's one exception type for a factory string it cannot parse or size
        reason = str(exc).strip().splitlines()[-1].rsplit(": ", 1)[-1]
        raise BadQuery(f"--factory {factory!r} is not a FAISS index for {d}-d vectors ({reason})",
                       hint="e.g. 'Flat', 'IVF1024,Flat' or 'IVF1024,PQ32' (PQ's code count must divide "
                            f"{d}), or {FACTORY_HINT}") from None
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index)) if nlist_of(factory) else None
    if hasattr(ivf, "do_polysemous_training"):
        # polysemous codes serve Hamming filtering, which we do not use; their training was 97% of build time
        ivf.do_polysemous_training = False
    return index


def build(vectors: np.ndarray, factory: str | None = None, seed: int = 0, recall_target: float = RECALL_TARGET) -> AnnIndex:
    """Create, train (on a seeded sample), fill and tune an index over ``vectors`` (row i gets id i). A
    memory-mapped array stays on disk: no copy is made of it (a float32 array is viewed, not converted)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    factory = factory or choose_factory(n, d)
    index = new_index(d, factory)
    if index.is_trained:  # Flat: nothing to learn, adding is a copy
        add_vectors(index, vectors)
    else:
        needed = training_points_needed(factory)
        if n < needed:  # counted here: FAISS would stop in k-means with "fewer points than clusters"
            raise BadQuery(f"FAISS index {factory!r} cannot be trained on {n} vectors: it needs at least "
                           f"{needed} (one per IVF list, 2**bits per PQ codebook)", hint=FACTORY_HINT)
        index = train_and_add(index, training_sample(vectors, factory, seed), vectors)
    nprobe = tune_nprobe(index, vectors, seed=seed, target=recall_target) if nlist_of(factory) else None
    return AnnIndex(index, factory, nprobe)


def training_sample(vectors: np.ndarray, factory: str, seed: int) -> np.ndarray:
    nlist = nlist_of(factory) or 1
    # PQ's 256 centroids need points too, and a codebook of more bits at least one point each
    size = max(TRAIN_POINTS_PER_LIST * nlist, 256 * MIN_POINTS_PER_LIST, training_points_needed(factory))
    if len(vectors) <= size:
        return vectors
    rows = np.sort(np.random.default_rng(seed).choice(len(vectors), size=size, replace=False))
    return vectors[rows]


def train_and_add(index: faiss.Index, sample: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    """Train and fill on GPU 0 when FAISS has one (returning a CPU copy), else in place on the CPU."""
    work, resources = to_gpu(index)
    if not work.is_trained:
        work.train(np.ascontiguousarray(sample, dtype=np.float32))
    add_vectors(work, vectors)
    return index if work is index else faiss.index_gpu_to_cpu(work)


def to_gpu(index: faiss.Index) -> tuple[faiss.Index, object]:
    """(GPU clone, its resources) when FAISS sees a GPU, else (index, None). Keep the resources alive."""
    if faiss.get_num_gpus() == 0:
        return index, None
    resources = faiss.StandardGpuResources()
    options = faiss.GpuClonerOptions()
    options.useFloat16 = True  # IVF-PQ lookup tables for M=64 only fit in shared memory as fp16
    try:
        return faiss.index_cpu_to_gpu(resources, 0, index, options), resources
    except RuntimeError:  # a layout the GPU kernels lack (e.g. unusual dims per sub-quantiser): CPU does it
        return index, None


ADD_SHARD = 65_536  # vectors per add call: a memory-mapped vector file is read a shard at a time


def add_vectors(index: faiss.Index, vectors: np.ndarray) -> None:
    """Add in shards of ``ADD_SHARD`` rows, so a memory-mapped vector file larger than RAM is never copied whole.
    Incremental adds stay on the CPU: assigning a chunk to trained lists is cheap, a GPU round trip is not."""
    for start in range(0, len(vectors), ADD_SHARD):
        index.add(np.ascontiguousarray(vectors[start:start + ADD_SHARD], dtype=np.float32))


def list_sizes(index: faiss.Index) -> list[int] | None:
    """Vectors per inverted list of an IVF index; None for other indexes."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return None
    return [int(ivf.invlists.list_size(i)) for i in range(ivf.nlist)]


def imbalance(index: faiss.Index) -> float | None:
    """FAISS's imbalance factor of the lists (1 = even); None for non-IVF indexes or empty ones."""
    from medsearch.integrity import imbalance as of_sizes

    return of_sizes(list_sizes(index))


def set_nprobe(index: faiss.Index, nprobe: int | None) -> None:
    if nprobe is not None:
        faiss.extract_index_ivf(index).nprobe = nprobe


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return flat.search(np.ascontiguousarray(queries, dtype=np.float32), k)[1]


def candidate_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of the true neighbours (rows of ``truth``) present in the matching row of ``found``."""
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / truth.size


def tune_nprobe(
    index: faiss.Index,
    vectors: np.ndarray,
    seed: int = 0,
    target: float = RECALL_TARGET,
    k: int = RECALL_K,
    candidates: int = RESCORE_CANDIDATES,
) -> int:
    """Smallest power-of-two nprobe reaching ``target`` candidate recall on held-out queries.

    Stops early once doubling nprobe gains less than half a point (PQ caps recall), and then returns the
    smallest nprobe within half a point of the best seen.
    """
    rng = np.random.default_rng(seed + 1)
    n, d = vectors.shape
    count = min(n, max(100, min(TUNE_QUERIES, int(TUNE_FLOPS / (n * d)))))
    rows = rng.choice(n, size=count, replace=False)
    # held-out queries: stored vectors moved by noise of norm ~0.05, so a query is never exactly a stored row
    queries = vectors[rows] + rng.normal(scale=0.05 / np.sqrt(d), size=(count, d)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_neighbours(vectors, queries, k)
    ivf = faiss.extract_index_ivf(index)
    tried: list[tuple[int, float]] = []
    nprobe = 1
    while nprobe <= ivf.nlist:
        ivf.nprobe = nprobe
        recall = candidate_recall(index.search(queries, candidates)[1], truth)
        if recall >= target:
            return nprobe
        if tried and recall < max(r for _, r in tried) + 0.005:
            tried.append((nprobe, recall))
            break
        tried.append((nprobe, recall))
        nprobe *= 2
    best = max(r for _, r in tried)
    return next(p for p, r in tried if r >= best - 0.005)


def save(ann: AnnIndex, path: Path) -> None:
    """Atomic write (temp file + rename) of a CPU index."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    faiss.write_index(ann.index, str(tmp))
    tmp.replace(path)


def load(path: Path, factory: str, nprobe: int | None) -> AnnIndex:
    index = faiss.read_index(str(path))
    set_nprobe(index, nprobe)
    return AnnIndex(index, factory, nprobe)
