"""The image side of open_clip models without torch: the PIL/numpy preprocessing equals open_clip's transform for
every resize mode, the ONNX image tower of a tiny BiomedCLIP-shaped model (tests/tiny_biomedclip.py) equals torch,
a second process embeds an image query importing neither torch nor open_clip, and the runtime choice leaves the
model's identity alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

import tiny_biomedclip as tb  # noqa: E402

from medsearch.models import openclip_image  # noqa: E402
from medsearch.models.openclip_image import ImageTransform, PreprocessSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _images() -> list:
    """A non-square RGB, a grayscale (mode L), one smaller than the model's input (upscaled) and a square one."""
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (300, 120, 3), dtype=np.uint8)),
            Image.fromarray(rng.integers(0, 256, (61, 97), dtype=np.uint8), mode="L"),
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)),
            Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))]


@pytest.mark.parametrize("cfg", [
    {"size": 160},  # BiomedCLIP's shape: shortest edge + centre crop, bicubic
    {"size": (96, 128)},  # non-square input: open_clip's ResizeKeepRatio path
    {"size": 112, "resize_mode": "longest", "fill_color": 128},  # letterbox with a fill colour
    {"size": (80, 64), "resize_mode": "squash", "interpolation": "bilinear"},
])
def test_numpy_preprocessing_equals_open_clip_transform(cfg):
    from open_clip.transform import PreprocessCfg, image_transform_v2

    full = {**vars(PreprocessCfg()), "mean": MEAN, "std": STD, **cfg}
    theirs = image_transform_v2(PreprocessCfg(**full), is_train=False)
    ours = ImageTransform(PreprocessSettings.from_open_clip(full))
    for image in _images():
        want = theirs(image).numpy()
        got = ours(image)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("tinybiomed")
    return f"local-dir:{tb.local_model(root)}"


def _torch_reference(enc, images) -> np.ndarray:
    """open_clip's own transform and image tower, nothing of ours."""
    batch = torch.stack([enc.preprocess(im) for im in images])
    with torch.inference_mode():
        return torch.nn.functional.normalize(enc.model.encode_image(batch), dim=-1).numpy()


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", **env}, timeout=300)


def test_onnx_image_tower_equals_torch_and_a_new_process_needs_neither_torch_nor_open_clip(tiny_model, isolated_cache,
                                                                                            tmp_path):
    from medsearch.models import load_encoder

    enc = load_encoder(tiny_model, device="cpu")
    images = _images()
    got = enc.encode_images(images)
    onnx_file, meta_file, _ = openclip_image.paths(enc.fp)
    assert onnx_file.exists() and meta_file.exists(), "the image tower was exported to the cache"
    assert enc._onnx_image is not None and got.shape == (4, 16)
    np.testing.assert_allclose(got, _torch_reference(enc, images), atol=1e-4)
    # the settings kept beside the export are open_clip's for this model (size from the vision tower, mean/std
    # from its config), not BiomedCLIP's 224
    assert enc.preprocess_settings == PreprocessSettings(size=(160, 160), mean=MEAN, std=STD)
    assert openclip_image.cached_settings(enc.fp) == enc.preprocess_settings

    np.save(tmp_path / "want.npy", got)
    out = _run(f"""
        import sys
        import numpy as np
        from PIL import Image
        from medsearch.models import load_encoder
        from medsearch.search.images import to_pil
        enc = load_encoder({tiny_model!r}, device="auto")
        rng = np.random.default_rng(0)
        images = [Image.fromarray(rng.integers(0, 256, (300, 120, 3), dtype=np.uint8)),
                  Image.fromarray(rng.integers(0, 256, (61, 97), dtype=np.uint8), mode="L")]
        got = enc.encode_images([to_pil(im) for im in images])
        np.testing.assert_allclose(got, np.load({str(tmp_path / "want.npy")!r})[:2], atol=1e-6)
        enc.encode_texts(["left pleural effusion"])
        print("MODULES", "torch" in sys.modules, "open_clip" in sys.modules, enc.model_id)
    """, {"MEDSEARCH_CACHE": str(isolated_cache), "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"MODULES False False {enc.model_id}" in out.stdout, out.stdout


def test_identity_is_the_same_whichever_runtime_embeds_images(tiny_model, isolated_cache, monkeypatch):
    from medsearch.models import image_runtime, load_encoder
    from medsearch.models.openclip import OpenClipEncoder

    on_cpu = load_encoder(tiny_model, device="cpu")
    assert on_cpu.images_on_cpu and not OpenClipEncoder(tiny_model, device="cuda").images_on_cpu
    monkeypatch.setattr(image_runtime, "gpu_present", lambda: True)  # what `auto` sees on a GPU machine
    on_gpu = load_encoder(tiny_model, device="auto")
    assert not on_gpu.images_on_cpu and on_gpu._onnx_image is None
    assert "_loaded" not in on_gpu.__dict__  # its identity is known without loading torch
    assert (on_cpu.model_id, on_cpu.dim, on_cpu.identity.name) == (on_gpu.model_id, on_gpu.dim, on_gpu.identity.name)
    images = _images()  # torch here runs on this machine's CPU: the same vectors as the ONNX export
    np.testing.assert_allclose(on_gpu.encode_images(images), on_cpu.encode_images(images), atol=1e-4)


def _encoder_left_on_torch(tiny_model, monkeypatch, step: str, replacement):
    """A CPU encoder loaded with ``onnx_cache.<step>`` replaced (its image export fails there); its images still
    embed as open_clip's own transform and tower embed them."""
    from medsearch.models import load_encoder, onnx_cache

    monkeypatch.setattr(onnx_cache, step, replacement)
    enc = load_encoder(tiny_model, device="cpu")
    images = _images()[:2]
    np.testing.assert_allclose(enc.encode_images(images), _torch_reference(enc, images), atol=1e-5)
    return enc


def test_a_tower_that_does_not_export_stays_on_torch_and_is_not_retried(tiny_model, isolated_cache, monkeypatch):
    from medsearch.models import load_encoder

    def fail(*_, **__):
        raise RuntimeError("Unsupported: ONNX export of operator foo\nmore detail")

    enc = _encoder_left_on_torch(tiny_model, monkeypatch, "export_optimised", fail)
    assert enc._onnx_image is None and openclip_image.is_unsupported(enc.fp)
    assert "operator foo" in openclip_image.paths(enc.fp)[2].read_text()
    assert not openclip_image.paths(enc.fp)[0].exists()
    again = load_encoder(tiny_model, device="cpu")
    assert again._onnx_image is None and "_loaded" not in again.__dict__  # no second export attempt


def test_a_refusal_by_an_older_exporter_is_retried(tiny_model, isolated_cache):
    from medsearch.models import load_encoder

    enc = load_encoder(tiny_model, device="cpu")
    marker = openclip_image.paths(enc.fp)[2]
    # cb15b18's marker (no stamp): open_clip's ViTs failed on attention's fast path, exported since b7880c6
    marker.write_text("export failed: Exporting the operator 'aten::_native_multi_head_attention' is not supported\n")
    again = load_encoder(tiny_model, device="cpu")
    assert not openclip_image.is_unsupported(enc.fp)
    assert again._onnx_image is not None and openclip_image.is_exported(enc.fp) and not marker.exists()


def test_a_graph_onnxruntime_refuses_stays_on_torch_and_leaves_no_temporary_file(tiny_model, isolated_cache,
                                                                                 monkeypatch):
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail

    def refuse(*_, **__):
        raise Fail("[ONNXRuntimeError] : 1 : FAIL : Load model failed: no kernel for op Foo")

    enc = _encoder_left_on_torch(tiny_model, monkeypatch, "optimise", refuse)
    assert enc._onnx_image is None and "no kernel for op Foo" in openclip_image.paths(enc.fp)[2].read_text()
    assert sorted(p.name for p in isolated_cache.glob("openclip-image-*")) == [f"openclip-image-{enc.fp}.unsupported"]


def test_a_cache_that_cannot_be_written_leaves_the_tower_on_torch_without_a_marker(tiny_model, isolated_cache,
                                                                                  monkeypatch, caplog):
    def read_only(module, inputs, out, **_):
        raise PermissionError(13, "Permission denied", str(out))

    # root writes anyway: chmod proves nothing here
    enc = _encoder_left_on_torch(tiny_model, monkeypatch, "export_optimised", read_only)
    assert enc._onnx_image is None and not openclip_image.is_unsupported(enc.fp)  # the next process tries again
    assert "cannot be written" in caplog.text


def test_prepare_exports_the_image_tower_too(tiny_model, isolated_cache):
    from medsearch.models import load_encoder

    enc = load_encoder(tiny_model, device="cpu")
    paths = enc.prepare()
    assert paths == [isolated_cache / f"openclip-text-{enc.fp}.onnx", isolated_cache / f"openclip-image-{enc.fp}.onnx"]
    assert all(p.exists() for p in paths)


def _native_model(directory: Path, vision_cfg: dict) -> str:
    """A tiny open_clip-native CLIP (its own ViT or ResNet, its own BPE tokenizer) whose config asks for another
    preprocessing than BiomedCLIP's: non-square input, letterbox ('longest') with a fill colour, bilinear."""
    from safetensors.torch import save_file

    cfg = {"embed_dim": 16, "vision_cfg": vision_cfg,
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    directory.mkdir(parents=True)
    (directory / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {
        "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "interpolation": "bilinear", "resize_mode": "longest",
        "fill_color": 200}}))
    torch.manual_seed(0)
    model = open_clip.CLIP(**cfg)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "open_clip_model.safetensors"))
    return f"local-dir:{directory}"


@pytest.mark.parametrize("vision_cfg", [
    {"image_size": [48, 64], "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},  # ViT: MHA fast path
    {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "head_width": 16},  # ModifiedResNet, attention pool
], ids=["vit", "resnet"])
def test_open_clip_native_towers_export_with_their_own_preprocessing(vision_cfg, tmp_path, isolated_cache):
    from medsearch.models import load_encoder

    name = _native_model(tmp_path / "m", vision_cfg)
    enc = load_encoder(name, device="cpu")
    images = _images()
    got = enc.encode_images(images)
    assert enc._onnx_image is not None, "open_clip's own towers export (attention fast path off while tracing)"
    size = vision_cfg["image_size"]
    assert enc.preprocess_settings == PreprocessSettings(size=tuple(size) if isinstance(size, list) else (size, size),
                                                         mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                                                         interpolation="bilinear", resize_mode="longest", fill_color=200)
    np.testing.assert_allclose(got, _torch_reference(enc, images), atol=1e-4)
    # a text tower without an ONNX export no longer needs torch just to know the dim once the image tower is exported
    again = load_encoder(name, device="cpu")
    assert again.dim == enc.dim == 16 and "_loaded" not in again.__dict__
    np.testing.assert_allclose(again.encode_images(images[:1]), got[:1], atol=1e-6)
