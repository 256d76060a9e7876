"""Cross-modal retrieval evaluation: recall@k image->text and text->image over a pool of image/text pairs.

A retrieved text (or the text of a retrieved image) is a hit when it is identical to the query's own text,
so repeated captions and one report shared by several images are not counted as misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsearch.eval import metrics

DEFAULT_KS = (1, 5, 10)


def sample_pool(n: int, pool: int | None, seed: int = 0) -> np.ndarray:
    """Row numbers of a fixed random pool of ``pool`` pairs (all rows, in order, when pool is None or >= n)."""
    if pool is None or pool >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=pool, replace=False))


@dataclass
class RetrievalResult:
    pool_size: int
    recall: dict  # direction -> {"R@k": {"value", "ci_low", "ci_high"}}
    curves: dict  # direction -> recall@1..max_k list
    unique_texts: int

    def to_dict(self) -> dict:
        return {"pool_size": self.pool_size, "unique_texts": self.unique_texts, "recall": self.recall,
                "curves": self.curves}


def evaluate_pairs(image_vectors: np.ndarray, text_vectors: np.ndarray, texts: list[str],
                   ks=DEFAULT_KS, n_boot: int = 1000, seed: int = 0, curve_k: int = 50,
                   groups: list | None = None, query_text_vectors: np.ndarray | None = None) -> RetrievalResult:
    """Row i of both arrays is pair i. Scores are inner products (vectors are L2-normalised).

    ``groups`` (a case or article key per row) makes every pair of the same group relevant too (MedPix captions
    repeat within a case). ``query_text_vectors`` are used for text->image queries instead of ``text_vectors``
    (e.g. queries embedded through the product's query path, while the index holds plain caption embeddings).
    """
    sims = image_vectors @ text_vectors.T  # (images, texts)
    relevant = metrics.same_text_relevance(texts, texts)
    if groups is not None:
        g = np.array([str(x) for x in groups])
        relevant = relevant | (g[:, None] == g[None, :])
    ranks = {
        "image_to_text": metrics.first_relevant_rank(sims, relevant),
        "text_to_image": metrics.first_relevant_rank(
            (query_text_vectors @ image_vectors.T) if query_text_vectors is not None else sims.T, relevant.T),
    }
    recall = {direction: metrics.recall_with_ci(r, ks, n_boot=n_boot, seed=seed) for direction, r in ranks.items()}
    curves = {direction: metrics.recall_curve(r, min(curve_k, len(texts))).tolist() for direction, r in ranks.items()}
    unique = len({(t or "").strip().casefold() for t in texts})
    return RetrievalResult(len(texts), recall, curves, unique)


def item_group(item, field: str):
    """The grouping key of an item (a case or article id): an Item attribute or an ``extra`` field."""
    value = getattr(item, field, None)
    return value if value is not None else (item.extra or {}).get(field)


def product_query_vectors(encoder, texts: list[str], ensemble: bool = True, expand: bool = True,
                          fallback: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Text->image query vectors made the way ``medsearch query`` / ``Index.search_text`` make them (normalised,
    lexicon-expanded, template ensemble for the image target). A text the query path refuses (no words after
    normalisation) keeps its ``fallback`` row; returns (vectors, number of such texts)."""
    from medsearch.errors import BadQuery
    from medsearch.prompts import embed_query

    rows, refused = [], 0
    for i, text in enumerate(texts):
        try:
            rows.append(embed_query(encoder, text, target="image", ensemble=ensemble, expand=expand))
        except BadQuery:
            refused += 1
            rows.append(fallback[i] if fallback is not None else encoder.encode_texts([text])[0])
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1), refused


QUERY_PATHS = ("raw", "product")


def run_retrieval(archive, encoder, split: str | None = None, pool: int | None = None, seed: int = 0,
                  batch_size: int = 64, n_boot: int = 1000, ks=DEFAULT_KS, show_progress: bool = True,
                  query_path: str = "raw", ensemble: bool = True, expand: bool = True,
                  group_by: str | None = None) -> dict:
    """Embed the archive's image+text items (optionally one split, optionally a fixed random pool) and score.

    ``query_path="product"`` embeds the text->image queries through the product's query path (``ensemble`` and
    ``expand`` as `medsearch query` has them) instead of the plain caption embedding; ``group_by`` names an item
    field (``case``, ``pmc_id``) whose equal values also count as relevant."""
    if query_path not in QUERY_PATHS:
        raise ValueError(f"query_path must be one of {QUERY_PATHS}")
    from medsearch.eval.embedding import embed_items

    items = [it for it in archive.items()
             if it.image_path is not None and (it.text or "").strip() and (split is None or it.split == split)]
    archive_skipped = list(getattr(archive, "skipped", []))
    if not items:
        from medsearch.errors import BadArchive

        reasons = sorted({s.reason.split(":")[0] for s in archive_skipped})[:3]
        raise BadArchive(
            f"no image+text pairs to evaluate in {getattr(archive, 'name', 'the archive')}"
            + (f" split {split!r}" if split else "")
            + (f" ({len(archive_skipped)} rows skipped: {'; '.join(reasons)})" if archive_skipped else ""),
            hint="check --root (and --split): the archive needs rows with both an image and a text")
    chosen = [items[i] for i in sample_pool(len(items), pool, seed)]
    emb = embed_items(chosen, encoder, batch_size=batch_size, show_progress=show_progress)
    queries, refused = None, 0
    if query_path == "product":
        queries, refused = product_query_vectors(encoder, emb.texts, ensemble, expand, emb.text_vectors)
    groups = [item_group(it, group_by) for it in emb.items] if group_by else None
    result = evaluate_pairs(emb.image_vectors, emb.text_vectors, emb.texts, ks=ks, n_boot=n_boot, seed=seed,
                            groups=groups, query_text_vectors=queries)
    return {
        "benchmark": "retrieval",
        "archive": getattr(archive, "name", None),
        "model_id": encoder.model_id,
        "split": split,
        "pool_requested": pool,
        "seed": seed,
        "query_path": query_path,
        **({"ensemble": ensemble, "expand": expand, "queries_kept_raw": refused} if query_path == "product" else {}),
        "group_by": group_by,
        "candidates_in_split": len(items),
        **result.to_dict(),
        "skipped": [{"where": s.where, "reason": s.reason, "stage": s.stage} for s in archive_skipped + emb.skipped],
    }
