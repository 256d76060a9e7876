"""The open_clip path: a tiny random open_clip model in a local dir loads offline and trains through the loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from medsearch.archives.item import Item  # noqa: E402
from medsearch.train.loop import TrainConfig, train  # noqa: E402

TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture()
def tiny_clip_dir(tmp_path):
    from safetensors.torch import save_file

    d = tmp_path / "tinyclip"
    d.mkdir()
    (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY, "preprocess_cfg": {"size": 32}}))
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "open_clip_model.safetensors"))
    return d


def test_local_dir_model_encodes_offline(tiny_clip_dir):
    from medsearch.models import load_encoder

    enc = load_encoder(f"local-dir:{tiny_clip_dir}", device="cpu")
    assert enc.model_id.startswith(f"local-dir:{tiny_clip_dir}@") and enc.dim == 16
    texts = enc.encode_texts(["left pleural effusion", "normal chest"])
    images = enc.encode_images([Image.new("RGB", (40, 30), color=(200, 10, 10))])
    assert texts.shape == (2, 16) and images.shape == (1, 16)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


def test_open_clip_model_fine_tunes_through_the_training_loop(tiny_clip_dir, tmp_path):
    from medsearch.train.openclip_model import ItemData, OpenClipModule

    items = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (32, 32), color=(20 * i, 255 - 20 * i, 7 * i)).save(path)
        items.append(Item(key=str(i), image_path=path, text=f"finding number {i}", labels=[f"C{i % 3}"]))
    model = OpenClipModule(f"local-dir:{tiny_clip_dir}")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = ItemData(items, model.preprocess, model.tokenizer)
    cfg = TrainConfig(epochs=2, batch_size=4, lr=1e-3, seed=0)
    result = train(model, data, np.arange(8), np.arange(8, 12), cfg, tmp_path / "run", progress=False)
    assert len(result.history) == 2 and result.best_val["pool"] == 4
    assert (tmp_path / "run" / "best.safetensors").exists()
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # the towers themselves were trained, not only a head


def test_lr_applies_to_the_whole_open_clip_model(tiny_clip_dir):
    from medsearch.train.loop import _param_groups
    from medsearch.train.openclip_model import OpenClipModule

    model = OpenClipModule(f"local-dir:{tiny_clip_dir}")
    groups = _param_groups(model, TrainConfig(lr=0.123, tower_lr=9.0))
    assert [g["lr"] for g in groups] == [0.123]
    assert sum(len(g["params"]) for g in groups) == len([p for p in model.parameters() if p.requires_grad])


def test_fine_tuned_checkpoint_is_a_local_dir_model(tiny_clip_dir, tmp_path):
    from medsearch.models import load_encoder
    from medsearch.train.openclip_export import export_local_dir
    from medsearch.train.openclip_model import ItemData, OpenClipModule

    items = []
    for i in range(8):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (32, 32), color=(30 * i, 200 - 20 * i, 9 * i)).save(path)
        items.append(Item(key=str(i), image_path=path, text=f"finding number {i}"))
    name = f"local-dir:{tiny_clip_dir}"
    model = OpenClipModule(name)
    data = ItemData(items, model.preprocess, model.tokenizer)
    train(model, data, np.arange(6), np.arange(6, 8), TrainConfig(epochs=1, batch_size=3, lr=1e-2), tmp_path / "run", progress=False)
    out = export_local_dir(tmp_path / "run" / "best.safetensors", name, tmp_path / "run" / "model")
    enc = load_encoder(f"local-dir:{out}", device="cpu")
    original = load_encoder(name, device="cpu")
    assert enc.model_id != original.model_id
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model.towers.encode_text(model.tokenizer(["finding number 3"])), dim=-1)
    np.testing.assert_allclose(enc.encode_texts(["finding number 3"]), expected.numpy(), atol=1e-5)


def test_training_sees_the_pixels_the_index_embeds(tiny_clip_dir, tmp_path, isolated_cache):
    # one owner of an open_clip model's preprocessing (models/openclip_image.py): training's batches are made by
    # the transform that index runs and image queries use, not by a second one
    from medsearch.models import load_encoder
    from medsearch.train.openclip_model import ItemData, OpenClipModule

    path = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(path)
    name = f"local-dir:{tiny_clip_dir}"
    model = OpenClipModule(name)
    batch = ItemData([Item(key="0", image_path=path, text="x")], model.preprocess, model.tokenizer).batch(np.arange(1))
    transform = load_encoder(name, device="cpu").image_transform()
    assert type(model.preprocess) is type(transform) and model.preprocess.settings == transform.settings
    assert batch["images"].dtype == torch.float32
    assert np.array_equal(batch["images"][0].numpy(), transform(Image.open(path)))
