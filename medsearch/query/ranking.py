"""Two-stage vector ranking: ANN candidates from faiss, then exact rescoring against the float vectors.

Store-agnostic: ``known(ids)`` answers which vector ids still have a metadata row (so stale vectors are
dropped), and an optional ``allowed`` array restricts the search to the vector ids that pass the filters.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

# Below this many allowed vectors, scoring them all exactly is cheaper and always has perfect recall.
EXACT_FILTER_LIMIT = 5000
CANDIDATE_FACTOR = 10
MIN_CANDIDATES = 100


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


def ann_candidates(index, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Vector ids of the ``n`` nearest neighbours by the ANN index (restricted to ``allowed`` if given)."""
    import faiss

    selector = faiss.IDSelectorBatch(allowed) if allowed is not None else None
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)
    else:
        params = faiss.SearchParameters(sel=selector)
    _, labels = index.search(np.ascontiguousarray(query[None], dtype=np.float32), n, params=params)
    ids = labels[0]
    return ids[ids >= 0].astype(np.int64)


def rank(
    index,
    vectors: np.ndarray,
    query: np.ndarray,
    k: int,
    known: Callable[[list[int]], Mapping[int, object]],
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float, object]]:
    """Top ``k`` as (vector_id, exact score, record) with records from ``known`` (one call per round).

    Unfiltered, or with a large allowed set: ANN for max(10k, 100) candidates, exact rescoring, stale ids
    dropped; when too many candidates were stale the candidate pool grows and the round repeats.
    A small allowed set is scored exactly in full.
    """
    nrows = len(vectors)
    if allowed is not None:
        allowed = np.unique(np.asarray(allowed, dtype=np.int64))
        allowed = allowed[(allowed >= 0) & (allowed < nrows)]
        if len(allowed) == 0:
            return []
        if len(allowed) <= EXACT_FILTER_LIMIT:
            ids, scores = top_k(allowed, exact_scores(vectors, allowed, query), k)
            records = known(ids.tolist())
            return [(int(i), float(s), records[int(i)]) for i, s in zip(ids, scores) if int(i) in records]

    ntotal = min(index.ntotal, nrows) if allowed is None else min(index.ntotal, len(allowed))
    if ntotal == 0:
        return []
    n = candidate_count(k, ntotal)
    while True:
        ids = ann_candidates(index, query, n, allowed)
        ids = ids[ids < nrows]
        records = known(ids.tolist())
        live = np.array([int(i) in records for i in ids], dtype=bool)
        exhausted = n >= ntotal or len(ids) < n
        if live.sum() >= k or exhausted:
            break
        n = min(n * 4, ntotal)
    ids = ids[live]
    ids, scores = top_k(ids, exact_scores(vectors, ids, query), k)
    return [(int(i), float(s), records[int(i)]) for i, s in zip(ids, scores)]
