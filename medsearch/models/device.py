"""Device choice and mixed precision: one code path for CUDA and CPU."""

from __future__ import annotations

import contextlib


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'. Imports torch lazily."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast(device: str):
    """fp16 autocast on CUDA; a no-op context on the CPU (bf16 on 2 CPU cores is slower than fp32)."""
    if device.startswith("cuda"):
        import torch

        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()
