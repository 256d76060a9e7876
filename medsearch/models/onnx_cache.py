"""The on-disk cache of exported ONNX towers, how the default's towers are exported into it, and how a session
over one is opened (text, image and open_clip runtimes alike). Imports onnxruntime only when a session is made,
torch only when a tower is exported."""

from __future__ import annotations

import os
from pathlib import Path

ONNX_OPSET = 17


def cache_dir() -> Path:
    return Path(os.environ.get("MEDSEARCH_CACHE") or Path.home() / ".cache" / "medsearch")


def open_session(model_file: Path, optimised: bool = True):
    """A CPU inference session, quiet. ``optimised``: the file was saved graph-optimised by ``optimise`` (skip
    that work at load); otherwise onnxruntime optimises it at load, as it does by default."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if optimised:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    # idle worker threads sleep instead of spinning: a spinning pool kept both cores busy for ~2x the encode's
    # own CPU, starving what runs beside or right after it (a text query's full-text work, its ANN search,
    # other requests of a server); batch encoding runs large operators back to back and does not notice
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_file), opts, providers=["CPUExecutionProvider"])


def optimise(raw: Path, out: Path) -> None:
    """Save onnxruntime's graph-optimised model once (portable 'extended' level), so later sessions skip that
    work and open in about half the time."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    staged = out.with_suffix(f".{os.getpid()}.opt")
    opts.optimized_model_filepath = str(staged)
    try:
        ort.InferenceSession(str(raw), opts, providers=["CPUExecutionProvider"])
        staged.replace(out)
    finally:
        staged.unlink(missing_ok=True)  # a graph onnxruntime refused leaves no half-written file behind


def export_optimised(module, inputs: tuple, out: Path, input_names: list[str], dynamic_axes: dict) -> Path:
    """Trace ``module`` on ``inputs`` into ONNX (TorchScript exporter, ONNX_OPSET, output ``embedding``) and save it
    graph-optimised at ``out``: written under a temporary name, then renamed, so never half a file."""
    import warnings

    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # tracing warns about a Python bool in transformers' attention; the graphs are checked against torch
            # in tests; the TorchScript exporter is chosen on purpose (dynamo=False)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, inputs, str(tmp), input_names=input_names, output_names=["embedding"],
                              dynamic_axes=dynamic_axes, opset_version=ONNX_OPSET, dynamo=False)
        optimise(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # also when tracing or onnxruntime failed: a tower's graph can be 100s of MB
    return out


def graph_errors() -> tuple[type[Exception], ...]:
    """What onnxruntime raises for a graph it cannot load, optimise or run: its own classes, none a RuntimeError."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (state.Fail, state.InvalidArgument, state.InvalidGraph, state.InvalidProtobuf, state.NotImplemented,
            state.RuntimeException)
