"""open_clip models (BiomedCLIP and any other) behind the Encoder interface, strictly offline.

Names: ``hf-hub:ORG/NAME`` (must already be in the Hugging Face cache), ``local-dir:/path`` (open_clip_config.json
+ weights), ``open_clip:ARCH@/path/to/checkpoint.pt``. HF_HUB_OFFLINE=1 is set before open_clip is imported so a
missing model fails at once with a hint instead of trying the network.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from medsearch.errors import ModelUnavailable
from medsearch.models.base import Encoder, l2_normalise

HINT = (
    "pip install 'medsearch[openclip]' and put the model files in the Hugging Face cache (HF_HOME), "
    "or pass local-dir:/path/to/model or open_clip:ARCH@/path/to/checkpoint.pt"
)


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def parse(name: str) -> tuple[str, str | None]:
    """-> (open_clip model name, pretrained checkpoint or None)."""
    if name.startswith("open_clip:"):
        arch, sep, ckpt = name[len("open_clip:") :].partition("@")
        if not sep or not arch or not ckpt:
            raise ModelUnavailable(f"bad open_clip model name {name!r}", hint="write it as open_clip:ARCH@/path/to/checkpoint.pt")
        if not Path(ckpt).exists():
            raise ModelUnavailable(f"open_clip checkpoint not found: {ckpt}", hint=HINT)
        return arch, ckpt
    if name.startswith("local-dir:") and not Path(name[len("local-dir:") :]).is_dir():
        raise ModelUnavailable(f"model directory not found: {name[len('local-dir:'):]}", hint=HINT)
    return name, None


def create(name: str, device: str = "cpu"):
    """-> (model, preprocess, tokenizer); ModelUnavailable when packages or files are missing."""
    _offline()
    try:
        import open_clip
    except ImportError as exc:
        raise ModelUnavailable("open_clip is not installed", hint=HINT) from exc
    arch, ckpt = parse(name)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=ckpt, device=device)
        tokenizer = open_clip.get_tokenizer(arch)
    except (OSError, RuntimeError, ValueError) as exc:  # hub cache miss, missing file, unknown arch
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"cannot load {name} offline: {first_line[:200]}", hint=HINT) from exc
    return model.eval(), preprocess, tokenizer


def _model_id(name: str, model) -> str:
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items())[:8]:  # a cheap fingerprint: a few named tensors
        h.update(key.encode())
        h.update(value.detach().float().cpu().numpy().tobytes()[:4096])
    return f"{name}@{h.hexdigest()[:12]}"


class OpenClipEncoder(Encoder):
    def __init__(self, name: str, device: str = "auto"):
        from medsearch.models.device import resolve_device

        self.name = name
        self.device = resolve_device(device)
        self.model, self.preprocess, self.tokenizer = create(name, self.device)
        self.model_id = _model_id(name, self.model)
        with self._no_grad():
            self.dim = int(self.model.encode_text(self.tokenizer(["x"]).to(self.device)).shape[-1])

    @staticmethod
    def _no_grad():
        import torch

        return torch.inference_mode()

    def image_transform(self):
        return _NumpyTransform(self.preprocess)

    def encode_image_batch(self, batch) -> np.ndarray:
        import torch

        from medsearch.models.device import autocast

        x = batch if torch.is_tensor(batch) else torch.as_tensor(np.asarray(batch, dtype=np.float32))
        with self._no_grad(), autocast(self.device):
            out = self.model.encode_image(x.to(self.device))
        return l2_normalise(out.float().cpu().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        from medsearch.models.device import autocast

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._no_grad(), autocast(self.device):
            out = self.model.encode_text(self.tokenizer(list(texts)).to(self.device))
        return l2_normalise(out.float().cpu().numpy())

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())


class _NumpyTransform:
    """open_clip's PIL->tensor preprocess, returning a numpy array (picklable for DataLoader workers)."""

    def __init__(self, preprocess):
        self.preprocess = preprocess

    def __call__(self, image) -> np.ndarray:
        return self.preprocess(image.convert("RGB")).numpy()


def load(device: str = "auto", name: str = "", **_) -> OpenClipEncoder:
    return OpenClipEncoder(name, device=device)
