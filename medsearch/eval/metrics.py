"""Evaluation metrics on plain numpy arrays: retrieval ranks and recall@k, bootstrap intervals, AUROC,
sensitivity at a fixed specificity, calibration (ECE, temperature scaling) and list agreement.

No torch, no faiss: every function here can be checked by hand on a few numbers (tests/test_metrics.py).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

# --- retrieval ---------------------------------------------------------------------------------------


def first_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of the best-scored relevant candidate per query row; ``inf`` where none is relevant.

    Ties count against the query: a relevant candidate tied with an irrelevant one ranks after it
    (rank = 1 + number of irrelevant candidates scoring >= the best relevant score), so a constant
    encoder never looks good.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    best = np.where(relevant, scores, -np.inf).max(axis=1)
    beaten = ((scores >= best[:, None]) & ~relevant).sum(axis=1)
    return np.where(relevant.any(axis=1), 1.0 + beaten, np.inf)


def same_text_relevance(query_texts: Sequence[str], candidate_texts: Sequence[str]) -> np.ndarray:
    """(q, c) bool: a candidate is relevant when its text is identical to the query's (after strip and
    case folding), so repeated captions and one note shared by several images all count as hits."""
    def key(t):
        return (t or "").strip().casefold()

    ids: dict[str, int] = {}
    q = np.array([ids.setdefault(key(t), len(ids)) for t in query_texts])
    c = np.array([ids.setdefault(key(t), len(ids)) for t in candidate_texts])
    return q[:, None] == c[None, :]


def true_match_rank(scores: np.ndarray) -> np.ndarray:
    """1-based rank of the true match in each row of a square score matrix whose row i is paired with column i.

    Ties count in favour of the true match (rank = 1 + candidates scoring strictly higher): the training's
    validation score, where the pool has one relevant candidate per query."""
    scores = np.asarray(scores)
    n = scores.shape[0]
    return 1 + (scores > scores[np.arange(n), np.arange(n)][:, None]).sum(1)


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """recall@k: the share of queries whose 1-based rank is at most k (the one recall@k of every bench)."""
    return float(np.mean(np.asarray(ranks) <= k))


def recall_curve(ranks: np.ndarray, max_k: int) -> np.ndarray:
    """recall@1..max_k as an array of length max_k."""
    return np.array([recall_at_k(ranks, k) for k in range(1, max_k + 1)])


def recall_with_ci(ranks: np.ndarray, ks: Sequence[int], n_boot: int = 1000, seed: int = 0) -> dict:
    """{"R@k": {"value", "ci_low", "ci_high"}} for each k: recall@k with its percentile bootstrap interval."""
    ranks = np.asarray(ranks)
    out = {}
    for k in ks:
        value, low, high = bootstrap_ci(lambda r, k=k: recall_at_k(r, k), ranks, n_boot=n_boot, seed=seed)
        out[f"R@{k}"] = {"value": value, "ci_low": low, "ci_high": high}
    return out


# --- bootstrap ---------------------------------------------------------------------------------------


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(point estimate, low, high): percentile bootstrap over rows shared by ``arrays``.

    Resamples whose statistic is undefined (NaN, e.g. AUROC of a one-class resample) are dropped.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    point = float(statistic(*arrays))
    if n == 0:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        rows = rng.integers(0, n, n)
        values.append(statistic(*(a[rows] for a in arrays)))
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return point, float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return point, float(low), float(high)


# --- classification ----------------------------------------------------------------------------------


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with ties counted one half); NaN with a single class."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over tied groups
    unique, start, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def sensitivity_at_specificity(labels: np.ndarray, scores: np.ndarray, specificity: float = 0.95) -> float:
    """Sensitivity at the lowest threshold t (positive iff score >= t) whose specificity reaches the target."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    for t in np.unique(scores):  # ascending: the first threshold that reaches the target keeps most positives
        if np.mean(neg < t) >= specificity:
            return float(np.mean(pos >= t))
    return 0.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: equal-width confidence bins, sum over bins of |accuracy - confidence| x bin share."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> list[dict]:
    """Per confidence bin: lower edge, count, mean confidence, accuracy (for the reliability diagram)."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        out.append({
            "low": float(edges[b]), "high": float(edges[b + 1]), "count": int(mask.sum()),
            "confidence": float(confidence[mask].mean()) if mask.any() else None,
            "accuracy": float(correct[mask].mean()) if mask.any() else None,
        })
    return out


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(labels)), np.asarray(labels)], 1e-12))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.01, high: float = 1000.0) -> float:
    """Temperature minimising the NLL of softmax(logits / T): golden-section search on log T."""
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2

    def f(log_t):
        return negative_log_likelihood(logits, labels, float(np.exp(log_t)))

    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return float(np.exp((a + b) / 2))


def micro_prf(tp: int, predicted: int, true: int) -> tuple[float, float, float]:
    """Micro (precision, recall, F1) from counts summed over queries: true positives, predicted labels, true labels
    (0.0 where a denominator is 0)."""
    precision, recall = (tp / predicted if predicted else 0.0), (tp / true if true else 0.0)
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


# --- agreement between result lists ------------------------------------------------------------------


def jaccard(a: Sequence, b: Sequence) -> float:
    """|A ∩ B| / |A ∪ B| of two result lists taken as sets (1.0 for two empty lists)."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def average_overlap(a: Sequence, b: Sequence, depth: int | None = None) -> float:
    """Rank agreement: mean over d = 1..depth of |A[:d] ∩ B[:d]| / d (top-weighted; 1.0 = same order)."""
    depth = depth or max(len(a), len(b))
    if depth == 0:
        return 1.0
    return float(np.mean([len(set(a[:d]) & set(b[:d])) / d for d in range(1, depth + 1)]))


def mean_pairwise(metric: Callable[[Sequence, Sequence], float], lists: Sequence[Sequence]) -> float:
    """Mean of ``metric`` over all unordered pairs of lists (NaN for fewer than two)."""
    values = [metric(lists[i], lists[j]) for i in range(len(lists)) for j in range(i + 1, len(lists))]
    return float(np.mean(values)) if values else float("nan")
