"""Diverse results for teaching: at most ``per_group`` hits per case (else patient, else item) and near-duplicates
spread by maximal marginal relevance (MMR, Carbonell & Goldstein 1998).

From a candidate pool (``POOL_PER_HIT`` x k hits of the plain search), hits are picked one at a time: the next
is the candidate (of a group not yet at its cap) with the highest

    lambda_ * relevance(hit) - (1 - lambda_) * max similarity(hit, already picked)

using the hits' stored vectors; relevance is the similarity to the query vector, or for a text query (whose pool
comes from the index's own, possibly hybrid, text search) 1 - rank / pool size. lambda_ = 1 with an unlimited cap is the plain ranking. The figure that
matters, distinct cases in the top 10, is in benchmarks/README.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from medsearch.teaching.groups import group_key

POOL_PER_HIT = 5
PER_GROUP = 1  # hits per case / patient / item in teaching mode
LAMBDA = 0.7


def mmr_order(relevance: np.ndarray, vectors: np.ndarray, groups: list, k: int, per_group: int | None,
              lambda_: float) -> list[int]:
    """Indices of the picked candidates, in order (pure function: tested on its own)."""
    picked: list[int] = []
    counts: dict = {}
    max_sim = np.full(len(relevance), -np.inf if len(relevance) else 0.0, dtype=np.float32)
    available = np.ones(len(relevance), dtype=bool)
    while len(picked) < k and available.any():
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        score = lambda_ * relevance - (1.0 - lambda_) * penalty
        score = np.where(available, score, -np.inf)
        best = int(np.argmax(score))
        available[best] = False
        if per_group is not None and counts.get(groups[best], 0) >= per_group:
            continue
        counts[groups[best]] = counts.get(groups[best], 0) + 1
        picked.append(best)
        if len(vectors):
            max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return picked


def pool_size(k: int, pool: int | None) -> int:
    return pool or max(POOL_PER_HIT * k, 50)


def diverse(index, vector, k: int = 10, target: str = "image", filters=None, per_group: int | None = PER_GROUP,
            lambda_: float = LAMBDA, pool: int | None = None):
    """The top ``k`` SearchResults for a query vector, capped per case and spread by MMR."""
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    hits = index.search_vector(vector, k=pool_size(k, pool), target=target, filters=filters)
    return spread(index, hits, k, target, per_group, lambda_)


def spread(index, hits, k: int, target: str, per_group: int | None = PER_GROUP, lambda_: float = LAMBDA,
           by_rank: bool = False):
    """MMR over a ranked pool of hits. ``by_rank``: relevance from the pool's order (1 - rank/len), for pools
    whose scores are not similarities (hybrid search fuses ranks)."""
    if not hits:
        return []
    records = index.store.items([h.item_id for h in hits])
    groups, rows, kept = [], [], []
    for hit in hits:
        record = records.get(hit.item_id)
        vector_id = None if record is None else (record.image_vector_id if target == "image" else record.text_vector_id)
        if vector_id is None:
            continue
        kept.append(hit)
        groups.append(group_key(record))
        rows.append(index.stored_vector(target, vector_id))
    if by_rank:
        relevance = 1.0 - np.arange(len(kept), dtype=np.float32) / max(len(kept), 1)
    else:
        relevance = np.array([h.score for h in kept], dtype=np.float32)
    matrix = np.stack(rows) if rows else np.zeros((0, 1), np.float32)
    order = mmr_order(relevance, matrix, groups, k, per_group, lambda_)
    return [dataclasses.replace(kept[i], rank=r + 1) for r, i in enumerate(order)]


def diverse_text(index, query: str, k: int = 10, target: str = "image", filters=None, pool: int | None = None,
                 **options):
    """A text query through the index's own text search (its default mode: hybrid when the index has a lexical
    index), then spread by rank-relevance MMR."""
    hits = index.search_text(query, k=pool_size(k, pool), target=target, filters=filters)
    return spread(index, hits, k, target, by_rank=True, **options)


def diverse_image(index, image, k: int = 10, target: str = "text", filters=None, **options):
    return diverse(index, index.embed_image(image), k=k, target=target, filters=filters, **options)
