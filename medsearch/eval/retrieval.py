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
                   ks=DEFAULT_KS, n_boot: int = 1000, seed: int = 0, curve_k: int = 50) -> RetrievalResult:
    """Row i of both arrays is pair i. Scores are inner products (vectors are L2-normalised)."""
    sims = image_vectors @ text_vectors.T  # (images, texts)
    relevant = metrics.same_text_relevance(texts, texts)
    ranks = {
        "image_to_text": metrics.first_relevant_rank(sims, relevant),
        "text_to_image": metrics.first_relevant_rank(sims.T, relevant.T),
    }
    recall, curves = {}, {}
    for direction, r in ranks.items():
        recall[direction] = {}
        for k in ks:
            hits = (r <= k).astype(np.float64)
            value, low, high = metrics.bootstrap_ci(np.mean, hits, n_boot=n_boot, seed=seed)
            recall[direction][f"R@{k}"] = {"value": value, "ci_low": low, "ci_high": high}
        curves[direction] = metrics.recall_curve(r, min(curve_k, len(texts))).tolist()
    unique = len({(t or "").strip().casefold() for t in texts})
    return RetrievalResult(len(texts), recall, curves, unique)


def run_retrieval(archive, encoder, split: str | None = None, pool: int | None = None, seed: int = 0,
                  batch_size: int = 64, n_boot: int = 1000, ks=DEFAULT_KS, show_progress: bool = True) -> dict:
    """Embed the archive's image+text items (optionally one split, optionally a fixed random pool) and score."""
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
    result = evaluate_pairs(emb.image_vectors, emb.text_vectors, emb.texts, ks=ks, n_boot=n_boot, seed=seed)
    return {
        "benchmark": "retrieval",
        "archive": getattr(archive, "name", None),
        "model_id": encoder.model_id,
        "split": split,
        "pool_requested": pool,
        "seed": seed,
        "candidates_in_split": len(items),
        **result.to_dict(),
        "skipped": [{"where": s.where, "reason": s.reason, "stage": s.stage} for s in archive_skipped + emb.skipped],
    }
