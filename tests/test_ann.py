"""indexer.ann: factory rules, approximate vs exact recall on clustered data, nprobe tuning, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from indexer import ann


def clustered(n: int, d: int, clusters: int, noise: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    x = centers[rng.integers(0, clusters, n)] + noise / np.sqrt(d) * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def queries_near(x: np.ndarray, count: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = x[:count] + 0.05 / np.sqrt(x.shape[1]) * rng.standard_normal((count, x.shape[1])).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def ivfpq():
    """20k x 64 clustered vectors in the IVF-PQ the size rule would pick past the exact limit."""
    x = clustered(20_000, 64, clusters=2_000)
    factory = ann.choose_factory(len(x), 64, exact_limit=0)
    return x, ann.build(x, factory)


@pytest.mark.parametrize(
    "n, d, expected",
    [
        (10, 256, "Flat"),
        (49_999, 256, "Flat"),
        (50_000, 256, "IVF1024,PQ32"),
        (1_000_000, 256, "IVF4096,PQ32"),
        (10_000_000, 512, "IVF16384,PQ64"),
        (200_000, 384, "IVF2048,PQ48"),
        (100_000_000, 768, "IVF32768,PQ64"),
        (1_000_000_000, 768, "IVF65536,PQ64"),
    ],
)
def test_factory_rule(n, d, expected):
    assert ann.choose_factory(n, d) == expected


@pytest.mark.parametrize("n", [39, 1_000, 60_000, 5_000_000])
@pytest.mark.parametrize("d", [32, 64, 256, 384, 512, 768])
def test_ivf_pq_sizes_respect_faiss_limits(n, d):
    nlist, m = ann.ivf_lists(n), ann.pq_code_size(d)
    assert nlist & (nlist - 1) == 0  # a power of two
    assert n // nlist >= ann.MIN_POINTS_PER_LIST
    assert d % m == 0 and m <= ann.MAX_CODE_BYTES and d // m >= ann.MIN_SUBVECTOR_DIMS


def test_factory_class_ignores_sizes():
    assert ann.factory_class("IVF1024,PQ32") == ann.factory_class("IVF4096,PQ64") == "IVF,PQ"
    assert ann.factory_class("Flat") != ann.factory_class("IVF1024,PQ32")
    assert ann.nlist_of("OPQ32,IVF1024,PQ32") == 1024
    assert ann.nlist_of("Flat") is None


def test_exact_index_matches_brute_force():
    x = clustered(2_000, 32, clusters=50)
    built = ann.build(x)
    q = queries_near(x, 50)
    assert built.factory == "Flat" and built.nprobe is None
    _, found = built.search(q, 10)
    np.testing.assert_array_equal(found, ann.exact_neighbours(x, q, 10))


def test_ivfpq_recall_against_exact(ivfpq):
    x, built = ivfpq
    q = queries_near(x, 300)
    truth = ann.exact_neighbours(x, q, 10)
    assert built.factory == "IVF512,PQ8"
    assert built.nprobe is not None and 1 <= built.nprobe <= 512
    assert ann.candidate_recall(built.search(q, 10)[1], truth) >= 0.7  # raw PQ recall@10
    # what search sees: the true top 10 among the candidates it rescores exactly
    assert ann.candidate_recall(built.search(q, ann.RESCORE_CANDIDATES)[1], truth) >= 0.9


def test_nprobe_tuning_takes_smallest_sufficient_and_caps_at_plateau(ivfpq):
    x, built = ivfpq
    assert ann.tune_nprobe(built.index, x, target=0.0) == 1
    unreachable = ann.tune_nprobe(built.index, x, target=1.01)
    assert unreachable & (unreachable - 1) == 0 and unreachable <= 512


def test_save_load_round_trip(tmp_path, ivfpq):
    x, built = ivfpq
    path = tmp_path / "image.faiss"
    ann.save(built, path)
    loaded = ann.load(path, built.factory, built.nprobe)
    q = queries_near(x, 20)
    assert loaded.ntotal == len(x) and list(tmp_path.iterdir()) == [path]
    np.testing.assert_array_equal(loaded.search(q, 10)[1], built.search(q, 10)[1])


def test_incremental_add_gives_next_row_ids():
    x = clustered(300, 16, clusters=10)
    built = ann.build(x[:200])
    built.add(x[200:])
    _, found = built.search(x[250:251], 1)
    assert built.ntotal == 300 and found[0, 0] == 250


def _flat(factory: str, n: int) -> ann.AnnIndex:
    index = ann.new_index(8, "Flat")
    index.add(np.eye(8, dtype=np.float32)[np.arange(n) % 8])
    return ann.AnnIndex(index, factory, None)


@pytest.mark.parametrize(
    "existing, wanted, forced, expected",
    [
        ("Flat", "Flat", False, False),
        ("Flat", "IVF1024,PQ32", False, True),  # crossed the exact limit
        ("IVF1024,PQ32", "IVF1024,PQ32", False, False),
        ("IVF1024,PQ32", "IVF2048,PQ32", False, True),  # grew ~4x: twice the lists
        ("IVF1024,PQ32", "Flat", True, True),  # --factory names another index
        ("IVF2,Flat", "IVF2,Flat", True, False),
    ],
)
def test_writer_rebuild_rule(existing, wanted, forced, expected):
    from indexer.writer import needs_rebuild

    assert needs_rebuild(_flat(existing, 4), wanted, n=10, forced=forced) is expected


def test_index_ahead_of_its_vector_file_is_rebuilt():
    from indexer.writer import needs_rebuild

    assert needs_rebuild(_flat("Flat", 12), "Flat", n=10, forced=False) is True


@pytest.mark.parametrize("factory, least", [("IVF64,Flat", 64), ("IVF2,PQ4", 256), ("IVF300,PQ8x4", 300),
                                            ("PQ8x6", 64)])
def test_too_few_training_points_are_counted_before_training(monkeypatch, factory, least):
    # the refusal came from matching FAISS's wording ("training points") in the error training raised; now the
    # vectors are counted first, and a training error of any wording is FAISS's own, never taken for this one
    from medsearch.errors import BadQuery

    x = clustered(least, 8, clusters=4)
    trained = []
    real = ann.train_and_add
    monkeypatch.setattr(ann, "train_and_add", lambda *args: (trained.append(len(args[1])), real(*args))[1])
    with pytest.raises(BadQuery, match=f"cannot be trained on {least - 1} vectors: it needs at least {least} "):
        ann.build(x[:-1], factory)
    assert trained == []
    assert ann.build(x, factory).ntotal == least and trained == [least]

    def fails(*args):
        raise RuntimeError("Error in void faiss::Clustering::train: Number of training points (3) should be at "
                           "least as large as number of clusters (64)")

    monkeypatch.setattr(ann, "train_and_add", fails)
    with pytest.raises(RuntimeError, match="Number of training points"):
        ann.build(x, factory)
