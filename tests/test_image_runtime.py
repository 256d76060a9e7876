"""The ONNX image path of the default model: same embeddings as torch, and no torch import for an image query."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from medsearch.models import default


def _images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((64, 80), (300, 120), (224, 224))]


@pytest.mark.slow
def test_onnx_image_embeddings_match_torch_within_1e_4(isolated_cache):
    torch = pytest.importorskip("torch")
    from medsearch.models import image_runtime
    from medsearch.models.default_torch import ImageEncoder, read_weights

    encoder = default.load(device="cpu")
    got = encoder.encode_images(_images())
    assert image_runtime.onnx_path(encoder.fp).exists()
    module = ImageEncoder(*read_weights(default.WEIGHTS))
    batch = np.stack([encoder.image_transform()(im) for im in _images()])
    with torch.no_grad():
        want = torch.nn.functional.normalize(module(torch.from_numpy(batch)), dim=-1).numpy()
    assert np.abs(got - want).max() < 1e-4

    code = ("import sys; from PIL import Image; from medsearch.models import default; e = default.load(device='cpu'); "
            "v = e.encode_images([Image.new('RGB', (50, 40), (90, 20, 200))]); print(v.shape, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MEDSEARCH_CACHE": str(isolated_cache), "CUDA_VISIBLE_DEVICES": ""})
    assert out.stdout.split()[-1] == "False", out.stdout


def test_prepare_exports_both_graphs_into_the_cache(tmp_path, monkeypatch):
    from medsearch.models import image_runtime, text_runtime

    monkeypatch.setenv("MEDSEARCH_CACHE", str(tmp_path))
    encoder = default.load(device="cpu")
    calls = []
    monkeypatch.setattr(text_runtime, "export_onnx", lambda w, out: calls.append(("text", out)) or out.touch())
    monkeypatch.setattr(image_runtime, "export_onnx", lambda w, out: calls.append(("image", out)) or out.touch())
    monkeypatch.setattr(text_runtime, "TextRuntime", lambda path: path)
    monkeypatch.setattr(image_runtime, "ImageRuntime", lambda path: path)
    paths = encoder.prepare()
    assert paths == [tmp_path / f"text-{encoder.fp}.onnx", tmp_path / f"image-{encoder.fp}.onnx"]
    assert [c[0] for c in calls] == ["text", "image"]


def test_models_command_lists_and_prepare_is_a_subcommand(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from medsearch.cli import app
    from medsearch.models import default as default_module

    monkeypatch.setenv("MEDSEARCH_CACHE", str(tmp_path))
    listed = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "medsearch-default" in listed.output
    monkeypatch.setattr(default_module.DefaultEncoder, "prepare", lambda self: [tmp_path / "x.onnx"])
    prepared = CliRunner().invoke(app, ["models", "prepare"])
    assert prepared.exit_code == 0, prepared.output
    assert f"ready: {tmp_path / 'x.onnx'}" in prepared.output and "prepared" in prepared.output


def test_gpu_present_is_what_auto_takes(monkeypatch, tmp_path):
    # gpu_present looked for NVIDIA's device node only: a ROCm GPU (which torch.cuda, and so `auto`, takes) ran
    # images on the CPU's ONNX tower, and a node without a CUDA build of torch sent them to torch on the CPU
    import types

    from medsearch.models import image_runtime

    node = tmp_path / "kfd"
    for variable in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(image_runtime, "GPU_DEVICE_NODES", {tmp_path / "nvidiactl": ("CUDA_VISIBLE_DEVICES",),
                                                           node: ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")})
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # not loaded: the nodes decide, torch stays unloaded
    assert not image_runtime.gpu_present()
    node.write_text("")
    assert image_runtime.gpu_present() and "torch" not in sys.modules
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "")
    assert not image_runtime.gpu_present()
    for available in (True, False):  # torch loaded: its answer, the one resolve_device("auto") gets
        cuda = types.SimpleNamespace(is_available=lambda available=available: available)
        monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
        assert image_runtime.gpu_present() is available
