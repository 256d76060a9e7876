"""Metric code against small hand-computed cases."""

import math

import numpy as np
import pytest

from medsearch.eval import metrics as m


def test_first_relevant_rank_plain_and_missing():
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.8, 0.7], [0.3, 0.2, 0.1]])
    relevant = np.array([[True, False, False], [False, False, True], [False, False, False]])
    ranks = m.first_relevant_rank(scores, relevant)
    assert ranks[0] == 1 and ranks[1] == 2 and math.isinf(ranks[2])


def test_ties_rank_the_relevant_item_after_tied_irrelevant_ones():
    scores = np.array([[0.5, 0.5, 0.5, 0.1]])
    relevant = np.array([[False, True, False, False]])
    assert m.first_relevant_rank(scores, relevant)[0] == 3  # two irrelevant ties go first


def test_repeated_texts_all_count_as_hits():
    query_texts = ["Chest X-ray.", "CT abdomen", "chest x-ray."]
    candidate_texts = ["CT abdomen", "chest x-ray.", "MRI brain", " Chest X-ray."]
    rel = m.same_text_relevance(query_texts, candidate_texts)
    assert rel.tolist() == [
        [False, True, False, True],
        [True, False, False, False],
        [False, True, False, True],
    ]
    scores = np.array([[0.1, 0.2, 0.9, 0.8], [0.3, 0.5, 0.4, 0.0], [0.9, 0.1, 0.2, 0.05]])
    ranks = m.first_relevant_rank(scores, rel)
    # q0: best relevant is col3 (0.8), beaten by col2 (0.9) -> 2; q1: col0 (0.3) beaten by 0.5, 0.4 -> 3;
    # q2: best relevant col1 (0.1) beaten by 0.9, 0.2 -> 3
    assert ranks.tolist() == [2, 3, 3]
    assert m.recall_at_k(ranks, 1) == 0.0
    assert m.recall_at_k(ranks, 2) == pytest.approx(1 / 3)
    assert m.recall_curve(ranks, 3).tolist() == pytest.approx([0, 1 / 3, 1])


def test_auroc_hand_cases():
    assert m.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert m.auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    assert m.auroc([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0
    assert m.auroc([0, 0, 1], [0.9, 0.8, 0.1]) == 0.0
    assert math.isnan(m.auroc([1, 1], [0.2, 0.3]))


def test_sensitivity_at_specificity():
    labels = np.array([0] * 20 + [1] * 4)
    neg = np.arange(20) / 20.0  # 0.00 .. 0.95
    scores = np.concatenate([neg, [0.97, 0.96, 0.5, 0.1]])
    # threshold 0.95 keeps 19/20 negatives below -> spec 0.95; positives >= 0.95: 0.97, 0.96 -> 2/4
    assert m.sensitivity_at_specificity(labels, scores, 0.95) == pytest.approx(0.5)
    assert m.sensitivity_at_specificity(labels, scores, 0.5) == pytest.approx(0.75)  # t=0.5


def test_ece_hand_case():
    probs = np.array([[0.9, 0.1], [0.85, 0.15], [0.3, 0.7], [0.35, 0.65]])
    labels = np.array([0, 1, 1, 0])
    # 5 bins (low, high]: (0.8, 1]: conf .875, acc .5 -> .375 ; (0.6, 0.8]: conf .675, acc .5 -> .175
    ece = m.expected_calibration_error(probs, labels, bins=5)
    assert ece == pytest.approx(0.5 * 0.375 + 0.5 * 0.175)
    assert m.expected_calibration_error(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == 0.0


def test_temperature_scaling_lowers_nll_and_undoes_a_known_scale():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(2000, 3)) * 2
    labels = np.array([rng.choice(3, p=p) for p in m.softmax(true_logits)])
    overconfident = true_logits * 4
    t = m.fit_temperature(overconfident, labels)
    assert 3.0 < t < 5.5
    assert m.negative_log_likelihood(overconfident, labels, t) < m.negative_log_likelihood(overconfident, labels)


def test_bootstrap_ci_shape_and_coverage():
    values = np.array([0.0] * 50 + [1.0] * 50)
    point, low, high = m.bootstrap_ci(np.mean, values, n_boot=500, seed=1)
    assert point == 0.5
    assert low < 0.5 < high
    assert 0.35 < low and high < 0.65
    # identical seed -> identical interval; constant data -> zero width
    assert m.bootstrap_ci(np.mean, values, n_boot=500, seed=1) == (point, low, high)
    assert m.bootstrap_ci(np.mean, np.ones(10), n_boot=50)[1:] == (1.0, 1.0)


def test_bootstrap_ci_over_paired_arrays_skips_undefined_resamples():
    labels = np.array([0, 1, 0, 1, 0, 1])
    scores = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    point, low, high = m.bootstrap_ci(m.auroc, labels, scores, n_boot=200)
    assert (point, low, high) == (1.0, 1.0, 1.0)


def test_jaccard_and_average_overlap():
    assert m.jaccard([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(2 / 6)
    assert m.jaccard([], []) == 1.0
    a, b = [1, 2, 3], [2, 1, 4]
    # d=1: {1}&{2}=0 ; d=2: {1,2}&{2,1}=2/2 ; d=3: {1,2,3}&{2,1,4}=2/3
    assert m.average_overlap(a, b) == pytest.approx((0 + 1 + 2 / 3) / 3)
    assert m.average_overlap(a, a) == 1.0
    assert m.mean_pairwise(m.jaccard, [[1, 2], [1, 2], [3, 4]]) == pytest.approx((1 + 0 + 0) / 3)
