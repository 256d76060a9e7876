"""Device choice and mixed precision: one code path for CUDA and CPU."""

from __future__ import annotations

import contextlib


NO_TORCH = ("auto", "cpu")  # taken as they are, without importing torch
REASON_WIDTH = 120  # torch's reason a device cannot be used is cut to its first sentence and this many characters
DEVICE_HINT = "choose auto, cpu, cuda, cuda:N, mps, or another device torch names (e.g. xpu)"


def check_device(device: str) -> str:
    """The device an encoder asked for ``device`` runs on, when this machine can run one there: any device string
    torch takes ("cpu:0" is "cpu": torch's CPU is one device). A string torch does not take is a BadQuery; a
    device torch names that this machine lacks (no CUDA GPU, no such GPU number, no MPS, ...) is
    DeviceUnavailable, so that a run fails before its work, not at its first batch. "auto" and "cpu" are taken
    as they are, without importing torch (text queries run on ONNX and never need it)."""
    from medsearch.errors import BadQuery

    if device in NO_TORCH:
        return device
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):  # torch's error for a string it does not parse
        raise BadQuery(f"unknown device {device!r}", hint=DEVICE_HINT) from None
    AVAILABILITY.get(parsed.type, _makes_tensors)(torch, parsed, device)
    return "cpu" if parsed.type == "cpu" else device


def _cuda(torch, parsed, device: str) -> None:
    from medsearch.errors import DeviceUnavailable

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceUnavailable(f"--device {device}: no CUDA GPU is visible on this machine",
                                hint="use --device cpu, or auto to take a GPU when there is one")
    if parsed.index is not None and parsed.index >= count:
        raise DeviceUnavailable(f"--device {device}: this machine has {count} CUDA GPU(s), numbered from 0",
                                hint=f"use --device cuda:0 ... cuda:{count - 1}")


def _mps(torch, parsed, device: str) -> None:
    from medsearch.errors import DeviceUnavailable

    if not torch.backends.mps.is_available():
        raise DeviceUnavailable(f"--device {device}: Apple MPS is not available on this machine",
                                hint="use --device cpu, or auto")
    if parsed.index not in (None, 0):
        raise DeviceUnavailable(f"--device {device}: Apple MPS is one device, mps (or mps:0)", hint="use --device mps")


def _no_data(torch, parsed, device: str) -> None:
    from medsearch.errors import DeviceUnavailable

    raise DeviceUnavailable(f"--device {device}: torch's {parsed.type} device holds no data; an encoder cannot "
                            "run there", hint="use --device cpu, or auto")


def _makes_tensors(torch, parsed, device: str) -> None:
    """Any other device torch names (cpu:N, xpu, hip, ...): usable when torch can make a tensor there."""
    from medsearch.errors import DeviceUnavailable

    try:
        torch.empty(0, device=parsed)
    except (RuntimeError, AssertionError, NotImplementedError) as exc:  # torch's ways of saying it has no such device
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]  # its first sentence
        reason = reason if len(reason) <= REASON_WIDTH else reason[:REASON_WIDTH - 1] + "…"
        raise DeviceUnavailable(f"--device {device}: torch cannot use it on this machine ({reason})",
                                hint="use --device cpu, or auto") from None


# device kind -> the check that this machine can run an encoder there (else: DeviceUnavailable)
AVAILABILITY = {"cuda": _cuda, "mps": _mps, "meta": _no_data}


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
