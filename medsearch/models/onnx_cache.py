"""The on-disk cache of exported ONNX towers and how a session over one is opened (text, image and open_clip
runtimes alike). Imports onnxruntime only when a session is made; never torch."""

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
    ort.InferenceSession(str(raw), opts, providers=["CPUExecutionProvider"])
    staged.replace(out)
