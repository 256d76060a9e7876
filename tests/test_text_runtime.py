"""The ONNX text path of the default model: same embeddings as torch, and no torch import at query time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from medsearch.models import default

TEXTS = ["left pleural effusion", "CT of the abdomen shows a 3 cm hypodense liver lesion", "PE", ""]


@pytest.mark.slow
def test_onnx_text_embeddings_match_torch_within_1e_4(isolated_cache):
    torch = pytest.importorskip("torch")
    from medsearch.models import text_runtime, towers
    from medsearch.models.default_torch import TextEncoder, read_weights

    encoder = default.load(device="cpu")
    got = encoder.encode_texts(TEXTS)
    assert text_runtime.onnx_path(encoder.fp).exists()
    assert got.shape == (len(TEXTS), encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)

    module = TextEncoder(*read_weights(default.WEIGHTS))
    ids, mask = towers.tokenize(towers.load_tokenizer(), TEXTS)
    with torch.no_grad():
        want = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    assert np.abs(got - want).max() < 1e-4

    # a fresh process with the ONNX file cached encodes text without importing torch
    code = (
        "import sys; from medsearch.models import default; e = default.load(device='cpu'); "
        f"v = e.encode_texts({TEXTS!r}); print(v.shape, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "MEDSEARCH_CACHE": str(isolated_cache)})
    assert out.stdout.split()[-1] == "False", out.stdout


def test_onnx_file_is_cached_per_weights_fingerprint(tmp_path, monkeypatch):
    from medsearch.models import text_runtime

    monkeypatch.setenv("MEDSEARCH_CACHE", str(tmp_path))
    assert text_runtime.onnx_path("abc123") == tmp_path / "text-abc123.onnx"


def test_tokenizer_pads_to_the_longest_text_not_to_128():
    from medsearch.models import towers

    ids, mask = towers.tokenize(towers.load_tokenizer(), ["pneumothorax", "small right apical pneumothorax after line"])
    assert ids.shape == mask.shape and ids.shape[1] < 20
    assert mask[0].sum() < mask[1].sum()
    assert ids[0, 0] == 101 and ids[0, mask[0].sum() - 1] == 102  # [CLS] ... [SEP]
