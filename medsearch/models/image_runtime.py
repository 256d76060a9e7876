"""Image queries without torch: the default's image tower (EfficientNet-Lite0 + any unfrozen stage + head) as ONNX.

Exported once per weights fingerprint into ``$MEDSEARCH_CACHE/image-<fingerprint>.onnx`` (~14 MB, by
``medsearch models prepare``, the first ``index``, or the first image query), then run by onnxruntime on the CPU:
a CLI image query loads PIL, numpy and onnxruntime only. On a GPU the torch path is used. ONNX and torch agree
within 1e-4 (tests/test_image_runtime.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from medsearch.models.base import l2_normalise
from medsearch.models.onnx_cache import cache_dir, export_optimised, open_session


def onnx_path(fingerprint: str) -> Path:
    return cache_dir() / f"image-{fingerprint}.onnx"


# a GPU driver's device node -> the environment variables that hide its GPUs when set empty
GPU_DEVICE_NODES = {
    Path("/dev/nvidiactl"): ("CUDA_VISIBLE_DEVICES",),  # NVIDIA
    Path("/dev/kfd"): ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),  # AMD ROCm
}


def gpu_present() -> bool:
    """Whether "auto" takes a GPU (``device.resolve_device``: ``torch.cuda``, NVIDIA's CUDA or AMD's ROCm), without
    importing torch: torch's own answer when torch is already loaded; else whether a GPU driver's device node is
    there (``GPU_DEVICE_NODES``) and not hidden by an empty CUDA_VISIBLE_DEVICES (ROCm: HIP_/ROCR_VISIBLE_DEVICES
    too). A node is a guess: without a build of torch for that GPU, images then run through torch on the CPU,
    slower but the same vectors. Apple's MPS counts as none: "auto" never takes it."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda"):  # loaded (and not a stub): asking it costs nothing more
        return bool(torch.cuda.is_available())
    return any(node.exists() and all(os.environ.get(name) != "" for name in hiding)
               for node, hiding in GPU_DEVICE_NODES.items())


def images_on_cpu(device: str) -> bool:
    """Whether an encoder asked for ``device`` runs images on the CPU (its ONNX image tower), decided without
    torch: "cpu", or "auto" with no GPU present."""
    return device == "cpu" or (device == "auto" and not gpu_present())


def export_onnx(weights: Path, out: Path) -> Path:
    import torch

    from medsearch.models.default_torch import ImageEncoder, read_weights

    module = ImageEncoder(*read_weights(weights))
    return export_optimised(module, (torch.zeros(2, 3, 224, 224),), out, input_names=["pixels"],
                            dynamic_axes={"pixels": {0: "n"}, "embedding": {0: "n"}})


class ImageRuntime:
    """(n, 3, H, W) float32 pixels as the exported tower takes them (the default's: 224 x 224 in [-1, 1]; an open_clip
    model's: openclip_image.ImageTransform) -> (n, dim) L2-normalised float32."""

    def __init__(self, model_file: Path, batch_size: int = 64):
        self.session = open_session(model_file)  # optimised at export
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self.batch_size = batch_size

    def encode(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        out = [self.session.run(None, {"pixels": batch[s:s + self.batch_size]})[0]
               for s in range(0, len(batch), self.batch_size)]
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)


def load(weights: Path, fingerprint: str) -> ImageRuntime:
    path = onnx_path(fingerprint)
    if not path.exists():
        export_onnx(weights, path)
    return ImageRuntime(path)
