"""The training's validation score: recall@k over a paired pool (row i of the image matrix matches row i of the
text matrix), in percent, through the one recall@k of ``medsearch.eval.metrics``."""

from __future__ import annotations

import numpy as np

from medsearch.eval.metrics import recall_at_k, true_match_rank


def paired_recall(image: np.ndarray, text: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """{"i2t@1": ..., "t2i@1": ..., ...} in percent, plus "pool" and "chance@1" (100 / pool)."""
    sims = np.asarray(image, dtype=np.float32) @ np.asarray(text, dtype=np.float32).T
    n = sims.shape[0]
    out: dict[str, float] = {"pool": n, "chance@1": 100.0 / max(n, 1)}
    for name, s in (("i2t", sims), ("t2i", sims.T)):
        ranks = true_match_rank(s)
        for k in ks:
            out[f"{name}@{k}"] = 100.0 * recall_at_k(ranks, k)
    return out


def mean_recall(r: dict[str, float], ks=(1, 5, 10)) -> float:
    return float(np.mean([r[f"{d}@{k}"] for d in ("i2t", "t2i") for k in ks]))
