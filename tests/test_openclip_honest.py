"""open_clip models load honestly and fast: a tiny BiomedCLIP-shaped model (tests/tiny_biomedclip.py) loads
offline from a local dir and from an HF-cache layout, is refused when weights or tokenizer are missing or partial,
and its ONNX text path equals torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

import tiny_biomedclip as tb  # noqa: E402

from medsearch.errors import ModelUnavailable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["left pleural effusion", "normal chest radiograph with no acute findings and an enlarged heart", "ct"]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinybiomed")
    tb.local_model(root)
    return root


@pytest.fixture()
def cache(isolated_cache):
    """This test's own MEDSEARCH_CACHE (conftest.isolated_cache)."""
    return isolated_cache


def _copy_model(tiny_root, dest: Path) -> Path:
    import shutil

    shutil.copytree(tiny_root / "tinybiomedclip", dest)
    cfg = json.loads((dest / "open_clip_config.json").read_text())
    assert cfg["model_cfg"]["text_cfg"]["hf_model_name"] == str(tiny_root / "tinybert")
    return dest


def test_local_dir_loads_offline_and_onnx_text_equals_torch(tiny_root, cache):
    from medsearch.models import load_encoder

    enc = load_encoder(f"local-dir:{tiny_root / 'tinybiomedclip'}", device="cpu")
    assert enc.dim == 16 and enc.model_id.startswith("local-dir:")
    assert list(cache.glob("openclip-text-*.onnx")), "the text tower was exported to the cache"
    onnx, ref = enc.encode_texts(TEXTS), enc.encode_texts_torch(TEXTS)
    np.testing.assert_allclose(onnx, ref, atol=1e-4)
    # padding is trimmed to the longest real text, not the context length (32)
    ids = enc._onnx_text.token_ids(TEXTS)
    assert ids.shape[1] < 32 and ids.shape[1] == max(int((row != 0).sum()) for row in ids)
    # a fresh encoder on the same files uses the cached export and never loads the torch model for text
    again = load_encoder(f"local-dir:{tiny_root / 'tinybiomedclip'}", device="cpu")
    np.testing.assert_allclose(again.encode_texts(TEXTS), onnx, atol=1e-6)
    assert "_loaded" not in again.__dict__ and again.model_id == enc.model_id


def test_fingerprint_covers_every_tensor(tiny_root, tmp_path, cache):
    from safetensors.torch import load_file, save_file

    from medsearch.models.openclip_files import fingerprint, preflight

    d = _copy_model(tiny_root, tmp_path / "m")
    before = fingerprint(preflight(f"local-dir:{d}").files)
    tensors = load_file(str(d / "open_clip_model.safetensors"))
    last = sorted(tensors)[-1]  # a tensor deep in the file, not one of the first few
    tensors[last] = tensors[last].clone()
    tensors[last].view(-1)[-1] += 1e-3
    save_file(tensors, str(d / "open_clip_model.safetensors"))
    assert fingerprint(preflight(f"local-dir:{d}").files) != before


def test_missing_directory_is_reported_before_open_clip_is_imported(tmp_path, monkeypatch):
    from medsearch.models import openclip

    monkeypatch.setitem(sys.modules, "open_clip", None)  # importing it would raise ImportError
    with pytest.raises(ModelUnavailable, match="model directory not found"):
        openclip.create(f"local-dir:{tmp_path / 'nowhere'}")


@pytest.mark.parametrize("missing", ["open_clip_model.safetensors", "vocab.txt"])
def test_missing_weights_or_tokenizer_refused_naming_the_file(tiny_root, tmp_path, cache, missing):
    from medsearch.models import load_encoder

    d = _copy_model(tiny_root, tmp_path / "m")
    (d / missing).unlink()
    with pytest.raises(ModelUnavailable) as exc:
        load_encoder(f"local-dir:{d}", device="cpu")
    assert str(d / missing) in str(exc.value)


def test_partial_checkpoint_refused(tiny_root, tmp_path, cache):
    from safetensors.torch import load_file, save_file

    from medsearch.models import openclip

    d = _copy_model(tiny_root, tmp_path / "m")
    tensors = load_file(str(d / "open_clip_model.safetensors"))
    save_file({k: v for k, v in tensors.items() if not k.startswith("text.")}, str(d / "open_clip_model.safetensors"))
    with pytest.raises(ModelUnavailable, match="cannot load"):
        openclip.create(f"local-dir:{d}")


def test_tokenizer_with_a_tiny_vocabulary_is_refused(tiny_root, tmp_path, cache):
    from medsearch.models import openclip

    d = _copy_model(tiny_root, tmp_path / "m")
    (d / "vocab.txt").write_text("\n".join(tb.SPECIAL + ["zebra", "xylophone"]) + "\n")
    with pytest.raises(ModelUnavailable, match="does not know ordinary words"):
        openclip.create(f"local-dir:{d}")


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", **env}, timeout=300)


def test_hf_cache_layout_loads_offline_even_when_huggingface_hub_was_imported_first(tmp_path):
    hub = tmp_path / "hub"
    name = tb.hub_cache(hub)
    env = {"HF_HUB_CACHE": str(hub), "MEDSEARCH_CACHE": str(tmp_path / "ms"), "HF_HUB_OFFLINE": "",
           "TRANSFORMERS_OFFLINE": ""}
    out = _run(f"""
        import huggingface_hub, huggingface_hub.constants as c
        assert not c.HF_HUB_OFFLINE
        from medsearch.models import load_encoder
        enc = load_encoder({name!r}, device="cpu")
        assert c.HF_HUB_OFFLINE, "the offline switch must reach an already-imported huggingface_hub"
        import numpy as np
        np.testing.assert_allclose(enc.encode_texts({TEXTS!r}), enc.encode_texts_torch({TEXTS!r}), atol=1e-4)
        print("OK", enc.model_id, enc.dim)
    """, env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"OK {name}@" in out.stdout


def test_hf_cache_missing_tokenizer_names_the_file(tmp_path):
    hub = tmp_path / "hub"
    name = tb.hub_cache(hub)
    for f in (hub / "models--test-org--tinybert").rglob("vocab.txt"):
        f.unlink()
    out = _run(f"""
        from medsearch.errors import ModelUnavailable
        from medsearch.models import load_encoder
        try:
            load_encoder({name!r}, device="cpu")
        except ModelUnavailable as exc:
            print("REFUSED", exc)
    """, {"HF_HUB_CACHE": str(hub), "MEDSEARCH_CACHE": str(tmp_path / "ms")})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "REFUSED tokenizer missing: test-org/tinybert/vocab.txt (Hugging Face cache)" in out.stdout


def test_cli_refusal_is_one_line_naming_the_missing_file(tiny_root, tmp_path):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(tiny_root / "tinybiomedclip", d)
    (d / "open_clip_model.safetensors").unlink()
    out = _run("from medsearch.cli import main; main(['models', 'prepare', '--model', %r])" % f"local-dir:{d}",
               {"MEDSEARCH_CACHE": str(tmp_path / "ms")})
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 3 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: model weights missing: ") and str(d / "open_clip_model.safetensors") in lines[0]
