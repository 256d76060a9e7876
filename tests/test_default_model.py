"""The shipped default model: weights in the package, fingerprinted id, torch-free loading, real encodings."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from medsearch.errors import ModelUnavailable
from medsearch.models import default, registry
from medsearch.models.towers import LetterboxTransform


def test_weights_ship_in_the_package_and_are_small():
    assert default.WEIGHTS.exists()
    assert default.WEIGHTS.stat().st_size < 10 * 2**20


def test_model_id_carries_the_weights_fingerprint_and_dim_matches_the_registry():
    enc = default.load(device="cpu")
    sha = hashlib.sha256(default.WEIGHTS.read_bytes()).hexdigest()[:12]
    assert enc.model_id == f"medsearch-default@{sha}"
    assert enc.dim == registry.MODELS["medsearch-default"].dim
    assert 1.0 < enc.logit_scale <= 100.0


def test_redistributable_variant_is_registered_with_its_own_id_and_training_data():
    enc = registry.load_encoder("medsearch-default-cc", device="cpu")
    sha = hashlib.sha256(default.CC_WEIGHTS.read_bytes()).hexdigest()[:12]
    assert enc.model_id == f"medsearch-default-cc@{sha}" and enc.dim == registry.MODELS["medsearch-default-cc"].dim
    assert default.CC_WEIGHTS.stat().st_size < 10 * 2**20
    with open(default.CC_WEIGHTS, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    summary = json.loads(header["__metadata__"]["config"])["summary"]
    assert summary["licences"].startswith("CC BY + CC0") and summary["archive"] == "roco"
    assert "CC BY" in registry.MODELS["medsearch-default-cc"].summary
    assert "MedPix" in registry.MODELS["medsearch-default"].summary


def test_loading_the_default_does_not_import_torch():
    code = "import sys; from medsearch.models import load_encoder; e = load_encoder(); print(e.model_id, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"
    assert out.stdout.startswith("medsearch-default@")


def test_missing_weights_raise_model_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable, match="weights missing"):
        default.load(weights=tmp_path / "nope.safetensors")


def test_letterbox_keeps_the_whole_image_and_scales_to_minus_one_one():
    tf = pickle.loads(pickle.dumps(LetterboxTransform()))
    img = Image.new("L", (200, 100), color=255)
    arr = tf(img)
    assert arr.shape == (3, 224, 224) and arr.dtype == np.float32
    assert arr[:, 112, 112].tolist() == [1.0, 1.0, 1.0]  # the white figure, centred
    assert arr[:, 0, 112].tolist() == [-1.0, -1.0, -1.0]  # black padding above it
    assert arr[:, 56, 112].tolist() == [1.0, 1.0, 1.0]  # 200x100 -> 224x112, rows 56..167


def test_openclip_names_pointing_nowhere_raise_model_unavailable_with_a_hint(tmp_path):
    from medsearch.models import openclip

    with pytest.raises(ModelUnavailable, match="not found") as err:
        openclip.parse(f"local-dir:{tmp_path / 'missing'}")
    assert "local-dir:" in err.value.hint
    with pytest.raises(ModelUnavailable, match="checkpoint not found"):
        openclip.parse(f"open_clip:ViT-B-32@{tmp_path / 'missing.pt'}")
    with pytest.raises(ModelUnavailable, match="bad open_clip model name"):
        openclip.parse("open_clip:ViT-B-32")


@pytest.mark.slow
def test_biomedclip_without_the_hub_cache_is_unavailable_not_downloaded(tmp_path, monkeypatch):
    pytest.importorskip("open_clip")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailable, match="open_clip config missing: microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224/open_clip_config.json"):
        registry.load_encoder("biomedclip", device="cpu")


@pytest.mark.slow
def test_real_image_and_caption_land_close_in_the_shared_space(shared_data):
    import csv

    rows = [r for r in csv.DictReader(open(shared_data / "roco" / "captions.csv")) if r["split"] == "test"][:16]
    enc = default.load(device="cpu")
    images = enc.encode_images([Image.open(shared_data / "roco" / r["image"]) for r in rows])
    texts = enc.encode_texts([r["caption"] for r in rows])
    assert images.shape == texts.shape == (16, enc.dim)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    sims = images @ texts.T
    assert np.diag(sims).mean() > sims.mean()  # true pairs score above the average pair
