"""Two-stage vector ranking: ANN candidates from faiss, then exact rescoring against the float vectors (not for
a flat inner-product index, whose scores are already exact).

Store-agnostic: ``known(ids)`` answers which vector ids still have a metadata row (so stale vectors are
dropped), and an optional ``allowed`` array restricts the search to the vector ids that pass the filters.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Callable, Mapping

import numpy as np

# Below this many allowed vectors, scoring them all exactly is cheaper and always has perfect recall.
EXACT_FILTER_LIMIT = 5000
CANDIDATE_FACTOR = 10
MIN_CANDIDATES = 100
# Post-filtering (see rank_post_filtered): passing candidates wanted, as a share of an unfiltered pool; the
# smallest share of candidates passing worth growing the pool for; the largest pool before pre-filtering.
POST_FILTER_DEPTH = 0.75
POST_FILTER_MIN_SHARE = 0.2
POST_FILTER_MAX_POOL = 1000


def candidate_count(k: int, ntotal: int) -> int:
    return min(max(k * CANDIDATE_FACTOR, MIN_CANDIDATES), ntotal)


def exact_scores(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Inner products of ``query`` with ``vectors[ids]``; reads the (memory-mapped) rows in file order."""
    order = np.argsort(ids, kind="stable")
    scores = np.empty(len(ids), dtype=np.float32)
    scores[order] = np.asarray(vectors[ids[order]], dtype=np.float32) @ query
    return scores


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` by score, ties broken by the smaller vector id so results are deterministic."""
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


def ann_search(index, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(vector ids, the index's scores) of the ``n`` nearest neighbours by the ANN index (restricted to ``allowed``
    if given), best first."""
    import faiss

    selector = faiss.IDSelectorBatch(allowed) if allowed is not None else None
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)
    else:
        params = faiss.SearchParameters(sel=selector)
    scores, labels = index.search(np.ascontiguousarray(query[None], dtype=np.float32), n, params=params)
    found = labels[0] >= 0
    return labels[0][found].astype(np.int64), scores[0][found]


def scores_are_exact(index) -> bool:
    """A flat inner-product index scores the stored float vectors themselves: rescoring would repeat its work."""
    import faiss

    return isinstance(faiss.downcast_index(index), faiss.IndexFlat) and index.metric_type == faiss.METRIC_INNER_PRODUCT


def scored_candidates(index, vectors: np.ndarray, query: np.ndarray, n: int, allowed: np.ndarray | None = None,
                      timings: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(vector ids, exact scores) of the ``n`` ANN candidates that are rows of ``vectors``, best first (ties: the
    smaller id): rescored against the float vectors, unless the index's own scores are exact (scores_are_exact)."""
    with _timed(timings, "ann"):
        ids, scores = ann_search(index, query, n, allowed)
    inside = ids < len(vectors)  # an id past the rows of ``vectors`` is not of this snapshot
    ids, scores = ids[inside], scores[inside]
    with _timed(timings, "rescore"):
        return top_k(ids, scores if scores_are_exact(index) else exact_scores(vectors, ids, query), len(ids))


def take_live(ids: np.ndarray, scores: np.ndarray, k: int, known, timings: dict | None = None) -> list:
    """The first ``k`` ids (already best first) that still have a record, fetching records in small batches:
    one ``known`` call of ``k`` ids when nothing is stale, so metadata cost does not grow with the pool."""
    hits: list[tuple[int, float, object]] = []
    start, batch = 0, k
    while len(hits) < k and start < len(ids):
        chunk, chunk_scores = ids[start:start + batch], scores[start:start + batch]
        with _timed(timings, "metadata"):
            records = known(chunk.tolist())
        hits += [(int(i), float(s), records[int(i)]) for i, s in zip(chunk, chunk_scores) if int(i) in records]
        start += batch
        batch = 2 * (k - len(hits))
    return hits[:k]


def rank(
    index,
    vectors: np.ndarray,
    query: np.ndarray,
    k: int,
    known: Callable[[list[int]], Mapping[int, object]],
    allowed: np.ndarray | None = None,
    timings: dict | None = None,
) -> list[tuple[int, float, object]]:
    """Top ``k`` as (vector_id, exact score, record); ``known(ids)`` returns the records of the live ids.

    Unfiltered, or with a large allowed set: ANN for max(10k, 100) candidates, exact rescoring, stale ids
    dropped; when too many candidates were stale the candidate pool grows and the round repeats.
    A small allowed set is scored exactly in full. ``timings`` (if given) accumulates seconds per stage.
    """
    nrows = len(vectors)
    if allowed is not None:
        allowed = np.unique(np.asarray(allowed, dtype=np.int64))
        allowed = allowed[(allowed >= 0) & (allowed < nrows)]
        if len(allowed) == 0:
            return []
        if len(allowed) <= EXACT_FILTER_LIMIT:
            with _timed(timings, "rescore"):
                ids, scores = top_k(allowed, exact_scores(vectors, allowed, query), len(allowed))
            return take_live(ids, scores, k, known, timings)

    ntotal = min(index.ntotal, nrows) if allowed is None else min(index.ntotal, len(allowed))
    if ntotal == 0:
        return []
    n = candidate_count(k, ntotal)
    while True:
        ids, scores = scored_candidates(index, vectors, query, n, allowed, timings)
        hits = take_live(ids, scores, k, known, timings)
        if len(hits) >= k or n >= ntotal or len(ids) < n:
            return hits
        n = min(n * 4, ntotal)


def rank_post_filtered(
    index,
    vectors: np.ndarray,
    query: np.ndarray,
    k: int,
    known: Callable[[list[int]], Mapping[int, object]],
    keep: Callable[[object], bool],
    timings: dict | None = None,
) -> list[tuple[int, float, object]] | None:
    """Broad filters: unfiltered ANN candidates, rescored, their records fetched and ``keep`` applied.

    To keep the recall of an unfiltered search, the candidates that pass must be about as many as an unfiltered
    search rescores (``POST_FILTER_DEPTH`` of them), so the pool grows by 1/share-passing. None when too few
    pass (share below ``POST_FILTER_MIN_SHARE`` or the pool would exceed ``POST_FILTER_MAX_POOL``): the caller
    then pre-filters, which costs a store query proportional to the allowed set.
    """
    ntotal = min(index.ntotal, len(vectors))
    if ntotal == 0:
        return []
    depth = POST_FILTER_DEPTH * candidate_count(k, ntotal)
    n = candidate_count(k, ntotal)
    records: dict = {}
    fetched: set[int] = set()
    while True:
        ids, scores = scored_candidates(index, vectors, query, n, timings=timings)
        new = [i for i in ids.tolist() if i not in fetched]
        with _timed(timings, "metadata"):
            records.update(known(new))
        fetched.update(new)
        hits = [(int(i), float(s), records[int(i)]) for i, s in zip(ids, scores)
                if int(i) in records and keep(records[int(i)])]
        if n >= ntotal or (len(hits) >= max(k, depth)):
            return hits[:k]
        share = len(hits) / max(len(ids), 1)
        if share < POST_FILTER_MIN_SHARE or n >= POST_FILTER_MAX_POOL:
            return None
        n = min(max(math.ceil(candidate_count(k, ntotal) / share), 2 * n), ntotal, POST_FILTER_MAX_POOL)


@contextmanager
def _timed(timings: dict | None, stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
