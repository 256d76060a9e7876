"""Device choice and mixed precision: one code path for CUDA and CPU."""

from __future__ import annotations

import contextlib


DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")
DEVICE_HINT = "choose one of: auto, cpu, cuda, cuda:N, mps"


def check_device(device: str) -> str:
    """``device`` when this machine can run an encoder there; else one line saying why (an unknown name, or no
    CUDA / MPS device). "auto" and "cpu" are taken as they are, without importing torch (text queries run on
    ONNX and never need it); a GPU asked for by name is looked for, so that a run fails before its work, not at
    its first batch."""
    from medsearch.errors import BadQuery, DeviceUnavailable

    kind, _, number = str(device).partition(":")
    if kind not in DEVICE_KINDS or (number and (kind != "cuda" or not number.isdigit())):
        raise BadQuery(f"unknown device {device!r}", hint=DEVICE_HINT)
    if kind == "cuda":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceUnavailable(f"--device {device}: no CUDA GPU is visible on this machine",
                                    hint="use --device cpu, or auto to take a GPU when there is one")
        if number and int(number) >= count:
            raise DeviceUnavailable(f"--device {device}: this machine has {count} CUDA GPU(s), numbered from 0",
                                    hint=f"use --device cuda:0 ... cuda:{count - 1}")
    if kind == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise DeviceUnavailable(f"--device {device}: Apple MPS is not available on this machine",
                                    hint="use --device cpu, or auto")
    return device


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
