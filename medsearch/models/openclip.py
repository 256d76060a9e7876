"""open_clip models (BiomedCLIP and any other) behind the Encoder interface, strictly offline and never half-loaded.

Names: ``hf-hub:ORG/NAME`` (must already be in the Hugging Face cache), ``local-dir:/path`` (open_clip_config.json
+ weights, the layout ``medsearch train`` writes too), ``open_clip:ARCH@/path/to/checkpoint.pt``.

Loading is honest: ``openclip_files.preflight`` checks every needed file before open_clip is imported and names
the first missing one; open_clip is asked for ``require_pretrained`` and loads checkpoints strictly, so missing or
partial weights are refused instead of run as random towers; a tokenizer that turns ordinary words into [UNK]
is refused. The offline switch is set in the environment and, when huggingface_hub was imported earlier, in its
already-read constants too.

Speed: the model id comes from hashes of the files (cached by size/mtime), and text goes through a cached ONNX
export of the text tower (``openclip_onnx``) for HF text towers (BiomedCLIP's PubMedBERT...), so after the first
use a text query imports neither torch nor open_clip. On the CPU, images go through a cached ONNX export of the
image tower with the model's own preprocessing in PIL/numpy (``openclip_image``), so after the first image query
(or ``medsearch models prepare``) an image query imports neither either. Torch still runs: images on a GPU
(device cuda, or auto with one present: batch indexing), torch tensors handed in, an image tower whose export
failed or disagreed with torch, and text towers that do not export (open_clip's own tokenizer).
"""

from __future__ import annotations

import os
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Sequence

import numpy as np

from medsearch.errors import ModelUnavailable
from medsearch.models.base import Encoder, l2_normalise
from medsearch.models.openclip_files import (
    PROBE,
    ModelFiles,
    arch_and_checkpoint,
    check_tokenizer,
    fingerprint,
    preflight,
)

if TYPE_CHECKING:
    from medsearch.models.image_runtime import ImageRuntime
    from medsearch.models.openclip_image import ImageTransform, PreprocessSettings

HINT = (
    "pip install 'medsearch[openclip]' and put the model files in the Hugging Face cache (HF_HOME), "
    "or pass local-dir:/path/to/model or open_clip:ARCH@/path/to/checkpoint.pt"
)


def offline() -> None:
    """No network for model files, whatever was imported before us."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # read the environment at its import: set the live value too
        constants.HF_HUB_OFFLINE = True


def parse(name: str) -> tuple[str, str | None]:
    """-> (open_clip model name, pretrained checkpoint or None); checks the files first (no open_clip import)."""
    preflight(name)
    return arch_and_checkpoint(name) or (name, None)


def _check_open_clip_tokenizer(tokenizer, name: str) -> None:
    ids = [int(i) for i in tokenizer([PROBE])[0].tolist()]
    inner = getattr(tokenizer, "tokenizer", None)
    special = set(getattr(inner, "all_special_ids", None) or [0])
    if inner is None:  # open_clip's own BPE: start/end of text ids
        special |= {getattr(tokenizer, "sot_token_id", -1), getattr(tokenizer, "eot_token_id", -1)}
    check_tokenizer(ids, getattr(inner, "unk_token_id", None), special, name)


def create(name: str, device: str = "cpu"):
    """-> (model, preprocess, tokenizer); ModelUnavailable when packages or files are missing or incomplete."""
    arch, ckpt = parse(name)
    offline()
    try:
        import open_clip
    except ImportError as exc:
        raise ModelUnavailable("open_clip is not installed", hint=HINT) from exc
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=ckpt, device=device, require_pretrained=True
        )
        tokenizer = open_clip.get_tokenizer(arch)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:  # cache miss, partial checkpoint, unknown arch
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        raise ModelUnavailable(f"cannot load {name} offline: {lines[0] if lines else type(exc).__name__}", hint=HINT) from exc
    _check_open_clip_tokenizer(tokenizer, name)
    return model.eval(), preprocess, tokenizer


class OpenClipEncoder(Encoder):
    """Lazy: constructing it checks files and computes the id; torch/open_clip load only when needed."""

    def __init__(self, name: str, device: str = "auto"):
        self.name = name
        self.requested_device = device
        self.files: ModelFiles = preflight(name)
        self.fp = fingerprint(self.files.files)
        self.model_id = f"{name}@{self.fp}"
        text = self._onnx_text
        self.dim = text.dim if text is not None else self._exported_image_dim() or int(self._torch_dim)

    def _exported_image_dim(self) -> int | None:
        """The dim from an existing image export (a text tower without an ONNX export then needs no torch here)."""
        from medsearch.models import openclip_image

        return self._onnx_image.dim if self.images_on_cpu and openclip_image.is_exported(self.fp) else None

    # --- torch side (images on a GPU or without an export, text towers without an ONNX export) ---
    @cached_property
    def device(self) -> str:  # type: ignore[override]
        from medsearch.models.device import resolve_device

        return resolve_device(self.requested_device)

    @cached_property
    def _loaded(self):
        return create(self.name, self.device)

    @property
    def model(self):
        return self._loaded[0]

    @property
    def preprocess(self):
        return self._loaded[1]

    @property
    def tokenizer(self):
        return self._loaded[2]

    @cached_property
    def _torch_dim(self) -> int:
        import torch

        with torch.inference_mode():
            return int(self.model.encode_text(self.tokenizer(["x"]).to(self.device)).shape[-1])

    # --- ONNX text side ---
    @cached_property
    def _onnx_text(self):
        from medsearch.models import openclip_onnx

        if not openclip_onnx.supported(self.files):
            return None
        if not openclip_onnx.is_exported(self.fp):
            openclip_onnx.export(self, self.fp)
        return openclip_onnx.load(self.fp, self.name)

    # --- ONNX image side (CPU) ---
    @property
    def images_on_cpu(self) -> bool:
        """Whether images run on the CPU, decided without torch (an NVIDIA device node, as the default model)."""
        from medsearch.models.image_runtime import images_on_cpu

        return images_on_cpu(self.requested_device)

    @cached_property
    def _onnx_image(self) -> ImageRuntime | None:
        """The exported image tower (exported on first use), or None: a GPU, or a tower that does not export."""
        from medsearch.models import openclip_image

        if not self.images_on_cpu or openclip_image.is_unsupported(self.fp):
            return None
        if not openclip_image.is_exported(self.fp):
            model = self.model.float().cpu()
            exported = openclip_image.export(model, openclip_image.PreprocessSettings.of_model(model), self.fp)
            if self.device != "cpu":  # torch saw an accelerator the device-node check did not: leave the model there
                model.to(self.device)
            if not exported:
                return None
        return openclip_image.load(self.fp)

    @cached_property
    def preprocess_settings(self) -> PreprocessSettings:
        """The model's image preprocessing (``openclip_image.PreprocessSettings``): kept beside the image export,
        else read from the loaded model."""
        from medsearch.models import openclip_image

        cached = openclip_image.cached_settings(self.fp)
        return cached if cached is not None else openclip_image.PreprocessSettings.of_model(self.model)

    def prepare(self) -> list:
        """Export the ONNX text tower (done at construction) and, for the CPU, the image tower; their paths."""
        from medsearch.models import openclip_image, openclip_onnx

        paths = [openclip_onnx._paths(self.fp)[0]] if self._onnx_text is not None else []
        return paths + ([openclip_image.paths(self.fp)[0]] if self._onnx_image is not None else [])

    def image_transform(self) -> ImageTransform:
        from medsearch.models.openclip_image import ImageTransform

        return ImageTransform(self.preprocess_settings)

    def encode_image_batch(self, batch) -> np.ndarray:
        if not _is_tensor(batch) and self._onnx_image is not None:
            return self._onnx_image.encode(np.asarray(batch, dtype=np.float32))
        import torch

        from medsearch.models.device import autocast

        x = batch if torch.is_tensor(batch) else torch.as_tensor(np.asarray(batch, dtype=np.float32))
        with torch.inference_mode(), autocast(self.device):
            out = self.model.encode_image(x.to(self.device))
        return l2_normalise(out.float().cpu().numpy())

    def encode_texts_torch(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from medsearch.models.device import autocast

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode(), autocast(self.device):
            out = self.model.encode_text(self.tokenizer(list(texts)).to(self.device))
        return l2_normalise(out.float().cpu().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if self._onnx_text is not None:
            return self._onnx_text.encode(list(texts))
        return self.encode_texts_torch(texts)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())


def _is_tensor(batch) -> bool:
    """torch.is_tensor without importing torch (an image query on ONNX never loads it)."""
    return type(batch).__module__.startswith("torch")


def load(device: str = "auto", name: str = "", **_) -> OpenClipEncoder:
    return OpenClipEncoder(name, device=device)

