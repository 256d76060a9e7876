"""Dense ranking over one snapshot of the index: a query vector's top k by ANN and exact rescoring, a filter
checked on the candidates (post-filter) or turned into the allowed vector ids first (pre-filter)."""

from __future__ import annotations

import time

import numpy as np

from medsearch.errors import IndexCorrupt, IndexMismatch
from medsearch.search.checks import as_filters, check_k, check_target


def ranked(index, vector, k: int, target: str, filters, encode_s: float, light: bool = False
           ) -> list[tuple[int, float, object]]:
    """Dense top ``k`` as (vector id, score, record), all from one snapshot of the index (``light`` and no
    filters: the item id in place of the record)."""
    try:
        return _ranked_snapshot(index, vector, k, target, filters, encode_s, light)
    except FileNotFoundError:  # a writer swapped the snapshot and removed the old files under this search
        if not index._refresh():
            raise IndexCorrupt("files named in the index manifest are missing") from None
        return _ranked_snapshot(index, vector, k, target, filters, encode_s, light)


def _ranked_snapshot(index, vector, k: int, target: str, filters, encode_s: float, light: bool = False
                     ) -> list[tuple[int, float, object]]:
    from medsearch import search as package  # POST_FILTER_FIRST is read there (tests set it)
    from medsearch.query.ranking import rank, rank_post_filtered

    target = check_target(target)
    check_k(k)
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape[0] != index.manifest.dim:
        raise IndexMismatch(f"query vector has dimension {vector.shape[0]}, the index {index.manifest.dim}")
    start = time.perf_counter()
    index._refresh()
    ann, vectors, base = index._snapshot(target)
    store = index.store
    timings = {"encode": encode_s, "load": time.perf_counter() - start}
    filters = as_filters(filters)
    known = rows_to_records(store, target, base, light=light and filters is None)
    hits, index.last_plan = None, "unfiltered"
    if filters is not None and package.POST_FILTER_FIRST:
        hits = rank_post_filtered(ann, vectors, vector, k, known, filters.matches, timings)
        index.last_plan = "post-filter"
    if hits is None:
        allowed = None
        if filters is not None:
            filter_start = time.perf_counter()
            allowed = store.allowed_vector_ids(target, filters) - base
            timings["filter"] = time.perf_counter() - filter_start
            index.last_plan = "pre-filter"
        hits = rank(ann, vectors, vector, k, known=known, allowed=allowed, timings=timings)
    if len(hits) < k and index._refresh():  # a writer swapped in a new snapshot while this one was read
        return _ranked_snapshot(index, vector, k, target, filters, encode_s, light)
    timings["total"] = encode_s + time.perf_counter() - start
    index.last_timings = timings
    return [(row + base, score, record) for row, score, record in hits]  # rows -> the store's vector ids


def rows_to_records(store, target: str, base: int, light: bool = False):
    """``known`` for the ranking code, which works in vector-file rows: rows -> store ids -> records by row
    (``light``: item ids instead of records, one cheap query; the caller fetches the records it keeps)."""
    fetch = store.vector_items if light else store.records
    if base == 0:
        return lambda rows: fetch(target, rows)

    def known(rows):
        records = fetch(target, [int(r) + base for r in rows])
        return {vid - base: record for vid, record in records.items()}

    return known
