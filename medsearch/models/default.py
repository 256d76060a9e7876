"""The embedded default model: EfficientNet-Lite0 + MiniLM-L6 towers with contrastively trained heads.

The trained tensors (projection heads, the temperature and any unfrozen tower block) ship in
``medsearch/models/weights/medsearch-default.safetensors``; the towers come from their pip packages. Nothing is
downloaded. Text and, on the CPU, images go through onnxruntime (no torch, see ``text_runtime`` and ``image_runtime``;
the graphs are exported once into the cache by ``medsearch models prepare`` or the first ``index``); on a GPU
images go through torch. See MODEL_CARD.md for data, licences and figures.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from medsearch.errors import ModelUnavailable
from medsearch.models.base import Encoder, l2_normalise

NAME = "medsearch-default"
CC_NAME = "medsearch-default-cc"
WEIGHTS = Path(__file__).parent / "weights" / f"{NAME}.safetensors"
CC_WEIGHTS = Path(__file__).parent / "weights" / f"{CC_NAME}.safetensors"  # trained only on CC BY / CC0 rows
RUN_WEIGHTS = f"{NAME}.safetensors"  # the weights `medsearch train` exports into its run directory


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def read_config(path: Path) -> dict:
    """The training config stored in the safetensors header, read without torch."""
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
    config = json.loads(header.get("__metadata__", {}).get("config", "{}"))
    return config.get("model", config)


class DefaultEncoder(Encoder):
    def __init__(self, weights: Path = WEIGHTS, device: str = "cpu", name: str = NAME):
        if not weights.exists():
            raise ModelUnavailable(f"default model weights missing: {weights}", hint="reinstall medsearch")
        self.weights = weights
        self.fp = fingerprint(weights)
        self.name = name
        self.model_id = f"{name}@{self.fp}"
        self.config = read_config(weights)
        self.dim = int(self.config["dim"])
        self.device = device

    def image_transform(self):
        from medsearch.models.towers import LetterboxTransform

        return LetterboxTransform()

    @cached_property
    def _text(self):
        from medsearch.models import text_runtime

        return text_runtime.load(self.weights, self.fp)

    @cached_property
    def _image_onnx(self):
        """The ONNX image tower on the CPU (no torch); None when a GPU is asked for or present."""
        from medsearch.models import image_runtime

        if not image_runtime.images_on_cpu(self.device):
            return None
        return image_runtime.load(self.weights, self.fp)

    def prepare(self) -> list[Path]:
        """Export the ONNX text and image graphs now (``medsearch models prepare``); returns their paths."""
        from medsearch.models import image_runtime, text_runtime

        _ = self._text
        _ = self._image_onnx
        return [text_runtime.onnx_path(self.fp), image_runtime.onnx_path(self.fp)]

    @cached_property
    def _image(self):
        from medsearch.models.default_torch import ImageEncoder, read_weights

        return ImageEncoder(*read_weights(self.weights)).to(self._torch_device)

    @cached_property
    def _torch_device(self) -> str:
        from medsearch.models.device import resolve_device

        return resolve_device(self.device)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._text.encode(list(texts))

    def encode_image_batch(self, batch) -> np.ndarray:
        if self._image_onnx is not None and not _is_tensor(batch):
            return self._image_onnx.encode(np.asarray(batch, dtype=np.float32))
        import torch

        from medsearch.models.device import autocast

        x = torch.as_tensor(np.asarray(batch, dtype=np.float32)) if not torch.is_tensor(batch) else batch
        with torch.inference_mode(), autocast(self._torch_device):
            out = self._image(x.to(self._torch_device).float())
        return l2_normalise(out.float().cpu().numpy())

    @property
    def logit_scale(self) -> float:
        return float(math.exp(min(self.config.get("logit_scale", math.log(100.0)), math.log(100.0))))


def _is_tensor(batch) -> bool:
    return type(batch).__module__.startswith("torch")


def load(device: str = "auto", weights: str | Path | None = None, name: str = NAME, **_) -> DefaultEncoder:
    return DefaultEncoder(Path(weights) if weights else WEIGHTS, device=device, name=name)


def load_cc(device: str = "auto", **_) -> DefaultEncoder:
    """The redistributable-data variant: same towers, heads trained only on CC BY / CC0 ROCO rows."""
    return DefaultEncoder(CC_WEIGHTS, device=device, name=CC_NAME)
