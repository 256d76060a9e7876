"""Training pieces on tiny synthetic tensors: loss, soft positives, queue, schedule, recall, loop, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from medsearch.train import checkpoint  # noqa: E402
from medsearch.train.feature_model import FeatureData, FeatureModel  # noqa: E402
from medsearch.train.features import FeatureCache  # noqa: E402
from medsearch.train.loop import TrainConfig, train  # noqa: E402
from medsearch.train.loss import clip_loss, soft_targets  # noqa: E402
from medsearch.train.metrics import mean_recall, paired_recall  # noqa: E402
from medsearch.train.queue import MomentumQueue  # noqa: E402
from medsearch.train.run import split_rows  # noqa: E402
from medsearch.train.schedule import warmup_cosine  # noqa: E402


def _unit(x):
    return torch.nn.functional.normalize(x, dim=-1)


def test_clip_loss_is_small_for_aligned_pairs_and_log_n_for_uniform_scores():
    x = _unit(torch.eye(8))
    assert clip_loss(x, x, 100.0).item() < 1e-3
    assert clip_loss(x, x, 0.0).item() == pytest.approx(math.log(8), rel=1e-6)


def test_clip_loss_is_symmetric_in_its_two_directions():
    g = torch.Generator().manual_seed(0)
    a, b = _unit(torch.randn(6, 4, generator=g)), _unit(torch.randn(6, 4, generator=g))
    assert clip_loss(a, b, 10.0).item() == pytest.approx(clip_loss(b, a, 10.0).item(), rel=1e-6)


def test_queue_negatives_raise_the_loss():
    g = torch.Generator().manual_seed(1)
    a = _unit(torch.randn(4, 8, generator=g))
    b = _unit(a + 0.3 * torch.randn(4, 8, generator=g))
    hard = _unit(b[:, :].flip(0) + 0.01)  # negatives close to the positives
    assert clip_loss(a, b, 10.0, queue_image=hard, queue_text=hard).item() > clip_loss(a, b, 10.0).item()


def test_soft_targets_share_mass_between_captions_with_common_concepts():
    t = soft_targets([frozenset({"C1", "C2"}), frozenset({"C2"}), frozenset({"C9"})], weight=1.0)
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert t[0, 1] > 0 and t[1, 0] > 0
    assert t[0, 2] == 0 and t[2, 2] == 1.0
    assert soft_targets([frozenset({"C1"})] * 3, weight=0.0) is None


def test_soft_targets_with_identity_equal_the_hard_loss():
    g = torch.Generator().manual_seed(2)
    a, b = _unit(torch.randn(5, 4, generator=g)), _unit(torch.randn(5, 4, generator=g))
    assert clip_loss(a, b, 7.0, targets=torch.eye(5)).item() == pytest.approx(clip_loss(a, b, 7.0).item(), rel=1e-5)


def test_momentum_queue_keeps_newest_first_and_its_size():
    model = torch.nn.Linear(2, 2)
    q = MomentumQueue(model, size=5, dim=3)
    for i in range(3):
        q.push(torch.full((2, 3), float(i)), torch.full((2, 3), float(i)))
    assert q.image.shape == (5, 3)
    assert q.image[0, 0].item() == 2.0 and q.image[-1, 0].item() == 0.0


def test_momentum_queue_key_model_moves_towards_the_model():
    model = torch.nn.Linear(2, 2)
    q = MomentumQueue(model, size=4, dim=2, momentum=0.9)
    with torch.no_grad():
        model.weight.add_(1.0)
    before = q.key_model.weight.clone()
    q.update_key_model(model)
    assert torch.allclose(q.key_model.weight, before + 0.1, atol=1e-6)


def test_warmup_cosine_rises_then_decays_to_the_floor():
    assert warmup_cosine(0, 10, 100) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine(10, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine(55, 10, 100) == pytest.approx(0.5)
    assert warmup_cosine(100, 10, 100, floor=0.05) == pytest.approx(0.05)


def test_recall_at_k_counts_rank_of_the_true_match():
    image = np.eye(4, dtype=np.float32)
    text = image[[1, 0, 2, 3]]  # rows 0 and 1 swapped
    r = paired_recall(image, text, ks=(1, 2))
    assert r["i2t@1"] == 50.0  # a swapped row ranks its true match second
    assert r["i2t@2"] == 100.0  # ties (the zeros) count in favour of the true match
    assert paired_recall(image, image)["t2i@1"] == 100.0
    assert r["pool"] == 4 and r["chance@1"] == 25.0


def test_split_rows_filters_training_licences_and_falls_back_to_a_val_slice():
    s = split_rows(["train", "train", "val", "test", "train"], ["CC BY", "CC BY-NC", "CC BY-NC", "CC0", "CC0"], ("CC BY", "CC0"))
    assert s.train.tolist() == [0, 4] and s.val.tolist() == [2] and s.test.tolist() == [3]
    s = split_rows(["train"] * 20, ["CC BY"] * 20, None)
    assert len(s.val) == 2 and len(s.train) == 18 and not set(s.val) & set(s.train)


def _synthetic_cache(n=96, seed=0) -> FeatureCache:
    """Image and text features that are two random linear views of one latent: learnable, not trivial."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 16)).astype(np.float32)
    image = z @ rng.standard_normal((16, 1280)).astype(np.float32) + 0.1 * rng.standard_normal((n, 1280)).astype(np.float32)
    text = z @ rng.standard_normal((16, 384)).astype(np.float32)
    splits = ["train"] * (n - 32) + ["val"] * 16 + ["test"] * 16
    return FeatureCache(
        keys=[str(i) for i in range(n)], texts=[""] * n, splits=splits, licences=["CC BY"] * n,
        labels=[[f"C{i % 5}"] for i in range(n)],
        tensors={"image_pooled": image, "text_pooled": text, "text_offsets": np.zeros(n + 1, dtype=np.int64)},
    )


def _run(tmp_path, epochs, resume=False, stop_after=None, **cfg):
    torch.manual_seed(0)
    cache = _synthetic_cache()
    model = FeatureModel(dim=16, hidden=32, feature_noise=0.1)
    data = FeatureData(cache, 0, 0)
    config = TrainConfig(epochs=epochs, batch_size=16, lr=3e-3, seed=0, **cfg)
    result = train(model, data, cache.rows("train"), cache.rows("val"), config, tmp_path, resume=resume, progress=False, stop_after=stop_after)
    return model, result


def test_training_beats_chance_on_val_and_keeps_the_best_checkpoint(tmp_path):
    model, result = _run(tmp_path, epochs=6)
    assert mean_recall(result.best_val) > 3 * result.best_val["chance@1"]
    assert result.best_epoch >= 1 and len(result.history) == 6
    for name in (checkpoint.MODEL_FILE, checkpoint.BEST_FILE, checkpoint.OPTIMIZER_FILE, checkpoint.STATE_FILE):
        assert (tmp_path / name).exists()


@pytest.mark.parametrize("extra", [{"queue_size": 32}, {"soft_weight": 0.5}])
def test_training_with_queue_or_soft_positives_runs_and_learns(tmp_path, extra):
    _, result = _run(tmp_path, epochs=4, **extra)
    assert mean_recall(result.best_val) > 2 * result.best_val["chance@1"]


def test_resume_continues_to_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight, _ = _run(tmp_path / "a", epochs=4)
    _run(tmp_path / "b", epochs=4, stop_after=2)  # as if killed after epoch 2
    resumed, result = _run(tmp_path / "b", epochs=4, resume=True)
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_exported_default_weights_are_byte_identical_across_exports(tmp_path):
    from medsearch.models.default import read_config
    from medsearch.train.export import export_default

    _run(tmp_path, epochs=1)
    metrics = {"archive": "synthetic", "train_pairs": 64, "test": {"i2t@1": 1.0}}
    a = export_default(tmp_path / checkpoint.BEST_FILE, tmp_path / "a.safetensors", metrics)
    b = export_default(tmp_path / checkpoint.BEST_FILE, tmp_path / "b.safetensors", metrics)
    assert a.read_bytes() == b.read_bytes()  # the fingerprint in model_id must not change between exports
    config = read_config(a)
    assert config["dim"] == 16 and config["hidden"] == 32 and "logit_scale" in config
