"""Dense ranking over one snapshot of the index: a query vector's top k by ANN and exact rescoring, a filter
checked on the candidates (post-filter) or turned into the allowed vector ids first (pre-filter)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from medsearch.errors import IndexCorrupt, IndexMismatch


@dataclass(frozen=True)
class DenseRanking:
    """A dense top k, best first: (store vector id, score, record, or item id when ``light`` and unfiltered)."""

    ranked: list[tuple[int, float, object]]
    plan: str  # "unfiltered", "post-filter" or "pre-filter"
    timings: dict[str, float]


def ranked(index, vector, k: int, target: str, filters, plan: str, encode_s: float, light: bool = False
           ) -> DenseRanking:
    """Dense top ``k`` of ``target``'s vectors, all from one snapshot of the index. The arguments were checked by
    the public entry (``checks``): a canonical target, k >= 1, Filters or None, a known plan."""
    try:
        return _ranked_snapshot(index, vector, k, target, filters, plan, encode_s, light)
    except FileNotFoundError:  # a writer swapped the snapshot and removed the old files under this search
        if not index._refresh():
            raise IndexCorrupt("files named in the index manifest are missing") from None
        return _ranked_snapshot(index, vector, k, target, filters, plan, encode_s, light)


def _ranked_snapshot(index, vector, k: int, target: str, filters, plan: str, encode_s: float, light: bool
                     ) -> DenseRanking:
    from medsearch.query.ranking import rank, rank_post_filtered

    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape[0] != index.manifest.dim:
        raise IndexMismatch(f"query vector has dimension {vector.shape[0]}, the index {index.manifest.dim}")
    start = time.perf_counter()
    index._refresh()
    loaded = index._snapshot(target)
    ann, vectors, base = loaded.ann, loaded.vectors, loaded.id_base
    store = index.store
    timings = {"encode": encode_s, "load": time.perf_counter() - start}
    if light and filters is None:
        known = live_rows(index.live_items(target, base, len(vectors)))
    else:
        known = rows_to_records(store, target, base)
    hits, used = None, "unfiltered"
    if filters is not None and plan == "auto":
        hits = rank_post_filtered(ann, vectors, vector, k, known, filters.matches, timings)
        used = "post-filter"
    if hits is None:
        allowed = None
        if filters is not None:
            filter_start = time.perf_counter()
            allowed = store.allowed_vector_ids(target, filters) - base
            timings["filter"] = time.perf_counter() - filter_start
            used = "pre-filter"
        hits = rank(ann, vectors, vector, k, known=known, allowed=allowed, timings=timings)
    if len(hits) < k and index._refresh():  # a writer swapped in a new snapshot while this one was read
        return _ranked_snapshot(index, vector, k, target, filters, plan, encode_s, light)
    timings["total"] = encode_s + time.perf_counter() - start
    return DenseRanking([(row + base, score, record) for row, score, record in hits], used, timings)  # rows -> ids


def rows_to_records(store, target: str, base: int):
    """``known`` for the ranking code, which works in vector-file rows: rows -> store ids -> records by row."""
    if base == 0:
        return lambda rows: store.records(target, rows)

    def known(rows):
        records = store.records(target, [int(r) + base for r in rows])
        return {vid - base: record for vid, record in records.items()}

    return known


def live_rows(live: np.ndarray):
    """``known`` from a snapshot's liveness map (``Index.live_items``): rows -> item ids of the live ones; the
    caller fetches the records it keeps."""

    def known(rows):
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[(rows >= 0) & (rows < len(live))]
        items = live[rows]
        return {int(r): int(i) for r, i in zip(rows[items >= 0], items[items >= 0])}

    return known
