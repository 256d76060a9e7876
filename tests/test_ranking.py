"""Two-stage ranking (ANN + exact rescoring) against brute force, on random unit vectors; no store."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from medsearch.query import ranking
from medsearch.query.ranking import candidate_count, rank


pytestmark = pytest.mark.usefixtures("one_faiss_thread")


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(vectors, query, k, ids=None):
    ids = np.arange(len(vectors)) if ids is None else np.asarray(ids)
    scores = vectors[ids] @ query
    order = np.lexsort((ids, -scores))[:k]
    return ids[order].tolist(), scores[order]


def ivfpq(vectors, nlist=8, nprobe=8):
    index = faiss.index_factory(vectors.shape[1], f"IVF{nlist},PQ16x4np", faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    faiss.extract_index_ivf(index).nprobe = nprobe
    return index


def every_id(ids):
    return {i: f"row{i}" for i in ids}


@pytest.fixture(scope="module")
def data():
    vectors = unit_rows(2000, 32, seed=1)
    return vectors, ivfpq(vectors), unit_rows(5, 32, seed=2)


def test_candidate_count():
    assert candidate_count(10, 10_000) == 100
    assert candidate_count(50, 10_000) == 500
    assert candidate_count(10, 40) == 40


def test_rescoring_gives_the_brute_force_top_k_and_exact_scores(data):
    vectors, index, queries = data
    for q in queries:
        hits = rank(index, vectors, q, 10, known=every_id)
        want_ids, want_scores = brute_force(vectors, q, 10)
        assert [h[0] for h in hits] == want_ids
        np.testing.assert_allclose([h[1] for h in hits], want_scores, rtol=1e-5)
        assert [h[2] for h in hits] == [f"row{i}" for i in want_ids]


def test_pq_scores_alone_would_not_be_exact(data):
    """Guards the test above: the PQ distances differ from the true inner products."""
    vectors, index, queries = data
    approx, labels = index.search(queries[:1], 10)
    assert not np.allclose(approx[0], vectors[labels[0]] @ queries[0], atol=1e-4)


def test_results_sorted_by_score(data):
    vectors, index, queries = data
    scores = [h[1] for h in rank(index, vectors, queries[0], 25, known=every_id)]
    assert scores == sorted(scores, reverse=True) and len(scores) == 25


def test_stale_ids_are_dropped_and_pool_grows(data):
    vectors, _, queries = data
    index = faiss.IndexFlatIP(vectors.shape[1])  # exact ANN: this test is about the stale ids, not recall
    index.add(vectors)
    q = queries[0]
    full, _ = brute_force(vectors, q, 2000)
    stale = set(full[:150])  # more stale rows than the first candidate pool holds
    hits = rank(index, vectors, q, 10, known=lambda ids: {i: i for i in ids if i not in stale})
    live = [i for i in full if i not in stale][:10]
    assert [h[0] for h in hits] == live


@pytest.mark.parametrize("exact_limit", [5000, 100], ids=["exact-scan", "ann-with-selector"])
def test_filtered_search_equals_brute_force_over_the_allowed_set(exact_limit, data, monkeypatch):
    monkeypatch.setattr(ranking, "EXACT_FILTER_LIMIT", exact_limit)
    vectors, index, _ = data
    allowed_size = 300
    allowed = np.random.default_rng(4).choice(len(vectors), allowed_size, replace=False)
    q = unit_rows(1, 32, seed=5)[0]
    hits = rank(index, vectors, q, 10, known=every_id, allowed=allowed)
    want_ids, _ = brute_force(vectors, q, 10, ids=np.sort(allowed))
    assert [h[0] for h in hits] == want_ids


def test_filter_with_no_allowed_ids_returns_nothing(data):
    vectors, index, queries = data
    assert rank(index, vectors, queries[0], 10, known=every_id, allowed=np.array([], dtype=np.int64)) == []


def test_k_larger_than_the_index(data):
    vectors, index, queries = data
    small = faiss.IndexFlatIP(32)
    small.add(vectors[:7])
    hits = rank(small, vectors[:7], queries[0], 10, known=every_id)
    assert sorted(h[0] for h in hits) == list(range(7))


def test_metadata_is_fetched_for_k_ids_when_nothing_is_stale(data):
    vectors, index, queries = data
    calls = []

    def known(ids):
        calls.append(len(ids))
        return every_id(ids)

    timings = {}
    hits = rank(index, vectors, queries[0], 10, known=known, timings=timings)
    assert len(hits) == 10 and calls == [10]
    assert set(timings) == {"ann", "rescore", "metadata"} and all(t >= 0 for t in timings.values())


def test_selector_and_nprobe_reach_an_ivf_inside_opq():
    """The indexer's large-index factory is OPQ+IVF-PQ (an IndexPreTransform): filters must still apply."""
    vectors = unit_rows(1500, 32, seed=6)
    opq = faiss.OPQMatrix(32, 8)
    opq.niter, opq.niter_pq = 2, 2  # few training rounds: this test is about the wrapping, not accuracy
    ivfpq = faiss.IndexIVFPQ(faiss.IndexFlatIP(32), 32, 8, 8, 4, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexPreTransform(opq, ivfpq)
    index.train(vectors)
    index.add(vectors)
    faiss.try_extract_index_ivf(index).nprobe = 8
    allowed = np.arange(0, 1500, 7)
    ids = ranking.ann_search(index, vectors[0], 50, allowed)[0]
    assert len(ids) == 50 and set(ids.tolist()) <= set(allowed.tolist())
    faiss.try_extract_index_ivf(index).nprobe = 1
    assert len(ranking.ann_search(index, vectors[0], 1500)[0]) < 1500  # one list probed, not all


def test_post_filter_on_a_broad_filter_equals_brute_force_and_gives_up_on_a_narrow_one(data):
    vectors, _, queries = data
    index = faiss.IndexFlatIP(vectors.shape[1])  # exact ANN: this test is about the filter logic, not recall
    index.add(vectors)
    even = lambda record: record % 2 == 0  # noqa: E731  (records are the vector ids here)
    known = lambda ids: {i: i for i in ids}  # noqa: E731
    for q in queries:
        hits = ranking.rank_post_filtered(index, vectors, q, 10, known, even)
        assert [h[0] for h in hits] == brute_force(vectors, q, 10, ids=np.arange(0, 2000, 2))[0]
    assert ranking.rank_post_filtered(index, vectors, queries[0], 10, known, lambda r: r == 3) is None


def test_post_filter_grows_the_pool_for_a_one_in_three_filter(data):
    vectors, _, queries = data
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    fetched = []

    def known(ids):
        fetched.append(len(ids))
        return {i: i for i in ids}

    hits = ranking.rank_post_filtered(index, vectors, queries[1], 10, known, lambda r: r % 3 == 0)
    assert [h[0] for h in hits] == brute_force(vectors, queries[1], 10, ids=np.arange(0, 2000, 3))[0]
    # ~33 of the first 100 pass, short of 75: the pool grows to ~300 and only the new ids are fetched
    assert fetched[0] == 100 and len(fetched) == 2 and 150 <= 100 + fetched[1] <= 400


def test_a_flat_inner_product_index_is_not_rescored(data, monkeypatch):
    """Its scores are the inner products with the stored vectors already: rank and rank_post_filtered take them,
    and find the brute-force top k; any other index (PQ codes, L2 distances) is rescored."""
    vectors, pq, queries = data
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    assert ranking.scores_are_exact(flat)
    assert not ranking.scores_are_exact(pq)
    assert not ranking.scores_are_exact(faiss.IndexFlatL2(vectors.shape[1]))

    def no_rescoring(*args):
        raise AssertionError("a flat inner-product index was rescored")

    monkeypatch.setattr(ranking, "exact_scores", no_rescoring)
    want_ids, want_scores = brute_force(vectors, queries[0], 10)
    for hits in (rank(flat, vectors, queries[0], 10, known=every_id),
                 ranking.rank_post_filtered(flat, vectors, queries[0], 10, every_id, lambda record: True)):
        assert [h[0] for h in hits] == want_ids
        np.testing.assert_allclose([h[1] for h in hits], want_scores, rtol=1e-5)
