"""Several cached sources trained as one, with augmented image views; case-aware and product-path retrieval."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from medsearch.train.features import FeatureCache  # noqa: E402


def _cache(n: int, split_names, seed: int) -> FeatureCache:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 5, n)
    return FeatureCache(
        keys=[f"k{i}" for i in range(n)], texts=[f"text {seed} {i}" for i in range(n)],
        splits=[split_names[i % len(split_names)] for i in range(n)], licences=["CC BY"] * n,
        labels=[[f"case:{seed}-{i // 2}", "C0001"] for i in range(n)],
        tensors={"image_pooled": rng.standard_normal((n, 1280)).astype(np.float32),
                 "image_map": rng.standard_normal((n, 192, 7, 7)).astype(np.float16),
                 "text_pooled": rng.standard_normal((n, 384)).astype(np.float32),
                 "text_hidden": rng.standard_normal((int(lengths.sum()), 384)).astype(np.float16),
                 "text_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)},
        meta={"image_top": 1, "text_top": 1},
    )


def _write_view(directory, cache: FeatureCache, seed: int) -> None:
    from safetensors.numpy import save_file

    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    save_file({"image_pooled": rng.standard_normal(cache.tensors["image_pooled"].shape).astype(np.float32),
               "image_map": rng.standard_normal(cache.tensors["image_map"].shape).astype(np.float16)},
              str(directory / "features.safetensors"))


def test_sources_merge_with_prefixed_splits_and_aligned_text_tokens(tmp_path):
    from medsearch.train.multisource import load_sources

    a, b = _cache(6, ["train", "val"], 1), _cache(4, ["train", "dev"], 2)
    a.save(tmp_path / "a"), b.save(tmp_path / "b")
    _write_view(tmp_path / "a-aug1", a, 3), _write_view(tmp_path / "b-aug1", b, 4)
    merged, views = load_sources(tmp_path, ["a", "b"], views=1)
    assert len(merged) == 10 and merged.splits[:2] == ["a:train", "a:val"] and merged.splits[-1] == "b:dev"
    hidden, mask = merged.text_tokens(np.array([7]))
    want = b.text_tokens(np.array([1]))
    np.testing.assert_array_equal(hidden, want[0]) and np.testing.assert_array_equal(mask, want[1])
    assert views[0]["image_pooled"].shape == (10, 1280)


def test_training_rows_draw_augmented_views_and_evaluation_rows_never_do(tmp_path):
    from medsearch.train.multisource import AugFeatureData, load_sources

    a = _cache(8, ["train", "val"], 1)
    a.save(tmp_path / "a")
    _write_view(tmp_path / "a-aug1", a, 5)
    merged, views = load_sources(tmp_path, ["a"], views=1)
    train_rows, val_rows = np.array([0, 2, 4, 6]), np.array([1, 3, 5, 7])
    data = AugFeatureData(merged, 0, 0, views, train_rows, seed=0)
    clean = merged.tensors["image_pooled"]
    for _ in range(3):
        np.testing.assert_array_equal(data.batch(val_rows)["image_pooled"].numpy(), clean[val_rows])
    seen_aug = any(not np.array_equal(data.batch(train_rows)["image_pooled"].numpy(), clean[train_rows]) for _ in range(5))
    assert seen_aug
    assert data.labels(np.array([0]))[0] == frozenset({"case:1-0", "C0001"})


def test_case_aware_relevance_counts_a_same_case_caption_as_a_hit():
    from medsearch.eval.retrieval import evaluate_pairs

    eye = np.eye(4, dtype=np.float32)
    images = eye[[1, 0, 2, 3]]  # images 0 and 1 are closest to each other's caption
    texts = ["a", "b", "c", "d"]
    strict = evaluate_pairs(images, eye, texts, ks=(1,), n_boot=10)
    grouped = evaluate_pairs(images, eye, texts, ks=(1,), n_boot=10, groups=["x", "x", "y", "z"])
    assert strict.recall["image_to_text"]["R@1"]["value"] == 0.5
    assert grouped.recall["image_to_text"]["R@1"]["value"] == 1.0


def test_product_query_vectors_are_what_the_query_path_embeds():
    from medsearch.eval.retrieval import product_query_vectors
    from medsearch.models.fake import FakeEncoder
    from medsearch.prompts import embed_query

    enc = FakeEncoder()
    texts = ["Left PE on CT.", "!!!", "pleural effusion"]
    fallback = enc.encode_texts(texts)
    vectors, refused = product_query_vectors(enc, texts, fallback=fallback)
    assert refused == 1
    np.testing.assert_allclose(vectors[0], embed_query(enc, texts[0], target="image"), atol=1e-6)
    np.testing.assert_allclose(vectors[1], fallback[1])
    assert not np.allclose(vectors[0], fallback[0])  # templates and lexicon changed the query


def test_seed_ensemble_exports_as_one_file_whose_heads_average_the_members_cosines(tmp_path):
    from medsearch.models.default_torch import build_heads, read_weights
    from medsearch.models.heads import DualHeads
    from medsearch.train.checkpoint import save_weights
    from medsearch.train.export import export_ensemble

    members, paths = [], []
    for seed in (0, 1):
        torch.manual_seed(seed)
        holder = torch.nn.Module()
        holder.heads = DualHeads(1280, 384, 8, 16, 0.0).eval()
        path = tmp_path / f"m{seed}.safetensors"
        save_weights(path, holder, {"config": {"model": {"dim": 8, "hidden": 16, "image_top": 0, "text_top": 0}}})
        members.append(holder.heads)
        paths.append(path)
    out = export_ensemble(paths, tmp_path / "ens.safetensors", {})
    tensors, config = read_weights(out)
    assert config["dim"] == 16 and config["ensemble"] == 2
    heads = build_heads(tensors, config)
    x, t = torch.randn(3, 1280), torch.randn(3, 384)
    with torch.no_grad():
        got_i, got_t = heads.image(x), heads.text(t)
        want = sum(m.image(x) @ m.text(t).T for m in members) / 2
    np.testing.assert_allclose(np.linalg.norm(got_i.numpy(), axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose((got_i @ got_t.T).numpy(), want.numpy(), atol=2e-3)  # fp16 weights
