"""The similarity below which a draft says "no similar case close enough", chosen from the index itself.

For a sample of the index's own vectors (images, or reports for a report-only index), the similarity of the
nearest vector from *another case* is computed; the threshold is its ``QUANTILE`` quantile: a query less similar
to every case than 95% of the archive's own items are to their nearest other case is refused. Being relative to
the index, it holds for any model and archive; MedPix dev and out-of-domain figures are in benchmarks/README.md.
``--min-score`` overrides it.
"""

from __future__ import annotations

import numpy as np

from medsearch.teaching.groups import case_key

QUANTILE = 0.05
SAMPLE = 1000  # query rows
DATABASE_SAMPLE = 50_000  # rows compared against (a larger index is sampled: the threshold is then a bit low)
SEED = 0


def nearest_other_case(vectors: np.ndarray, groups: list, query_rows: np.ndarray) -> np.ndarray:
    """For each query row, the highest similarity to a row of another group (-1 where there is none)."""
    out = np.full(len(query_rows), -1.0, dtype=np.float32)
    group_ids = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    labels = np.array([group_ids[g] for g in groups])
    for start in range(0, len(query_rows), 256):
        rows = query_rows[start:start + 256]
        sims = vectors[rows] @ vectors.T
        sims[labels[rows][:, None] == labels[None, :]] = -np.inf
        best = sims.max(axis=1)
        out[start:start + 256] = np.where(np.isfinite(best), best, -1.0)
    return out


def stored_matrix(index, target: str):
    """(vectors, id base): store vector id = base + row (base 0 unless the index was compacted)."""
    loaded = index.target_snapshot(target)
    return loaded.vectors, int(loaded.id_base)


def similarity_threshold(index, target: str = "image", quantile: float = QUANTILE) -> float | None:
    """The refusal threshold for queries against ``target`` vectors (cached on the Index); None when the index
    has fewer than two cases to compare."""
    cache = index.derived("teaching_threshold")
    if (target, quantile) in cache:
        return cache[(target, quantile)]
    entry = index.manifest.modalities.get(target)
    if entry is None or entry.count < 2:
        return None
    stored, base = stored_matrix(index, target)
    rng = np.random.default_rng(SEED)
    rows = np.arange(len(stored))
    if len(rows) > DATABASE_SAMPLE:
        rows = np.sort(rng.choice(rows, DATABASE_SAMPLE, replace=False))
    records = index.store.records(target, (rows + base).tolist())
    live = [int(r) for r in rows if int(r) + base in records]
    if len(live) < 2:
        return None
    vectors = np.asarray(stored[live], dtype=np.float32)
    groups = [case_key(records[r + base]) for r in live]
    if len(set(groups)) < 2:
        return None
    query_rows = np.arange(len(live))
    if len(query_rows) > SAMPLE:
        query_rows = np.sort(rng.choice(query_rows, SAMPLE, replace=False))
    nearest = nearest_other_case(vectors, groups, query_rows)
    threshold = float(np.quantile(nearest[nearest > -1], quantile))
    cache[(target, quantile)] = threshold
    return threshold
