"""The text tower of an open_clip model with an HF text encoder (BiomedCLIP's PubMedBERT...) as ONNX.

Exported once per model fingerprint into ``$MEDSEARCH_CACHE`` (``openclip-text-<fp>.onnx`` plus the tokenizer as
``openclip-text-<fp>.tokenizer.json`` and a small ``.json`` of settings); later text queries load only
``tokenizers`` and onnxruntime. Inputs are padded to the longest text of the batch, not to the model's context
length (256 for BiomedCLIP): the HF tower masks padding, so trimming it changes nothing but the time.
Tested against torch to 1e-4 (tests/test_openclip_honest.py).
"""

from __future__ import annotations

import html
import json
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from medsearch.models.base import l2_normalise
from medsearch.models.onnx_cache import ONNX_OPSET, cache_dir, open_session


def _paths(fp: str) -> tuple[Path, Path, Path]:
    base = cache_dir() / f"openclip-text-{fp}"
    return base.with_suffix(".onnx"), base.with_suffix(".tokenizer.json"), base.with_suffix(".json")


def supported(files) -> bool:
    """Only HF text towers: their tokenizer has a fast ``tokenizers`` form and they mask padding."""
    return files.tokenizer_dir is not None and bool(files.text_cfg.get("hf_model_name"))


def is_exported(fp: str) -> bool:
    return all(p.exists() for p in _paths(fp))


def clean(text: str) -> str:
    """open_clip HFTokenizer's default cleaning (ftfy, HTML entities, whitespace), without importing open_clip."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass  # ftfy only repairs mojibake; plain text is unchanged without it
    return " ".join(html.unescape(html.unescape(text)).split())


class _TextGraph:
    @staticmethod
    def build(model):
        import torch
        import torch.nn.functional as F

        class Graph(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids):
                return F.normalize(self.m.encode_text(input_ids), dim=-1)

        return Graph(model).eval()


def export(encoder, fp: str) -> None:
    """Export ``encoder``'s text tower (loads it with torch once) and its tokenizer into the cache."""
    import torch

    onnx_file, tok_file, meta_file = _paths(fp)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    hf_tok = encoder.tokenizer.tokenizer  # open_clip HFTokenizer -> transformers fast tokenizer
    backend = getattr(hf_tok, "backend_tokenizer", None)
    if backend is None:
        return  # a slow tokenizer cannot be saved for the fast path; torch keeps serving this model
    meta = {"context_length": int(encoder.tokenizer.context_length), "pad_id": int(hf_tok.pad_token_id or 0),
            "unk_id": hf_tok.unk_token_id, "special_ids": sorted(int(i) for i in hf_tok.all_special_ids)}
    model = _TextGraph.build(encoder.model.float().cpu())
    ids = _tokenize(_configure(_copy(backend), meta), ["a chest radiograph", "ct of the abdomen with contrast showing"], meta)
    tmp = onnx_file.with_suffix(f".{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)  # the unused token output's indexing; checked against torch in tests
        torch.onnx.export(model, (torch.from_numpy(ids),), str(tmp), input_names=["input_ids"],
                          output_names=["embedding"], dynamic_axes={"input_ids": {0: "n", 1: "len"}, "embedding": {0: "n"}},
                          opset_version=ONNX_OPSET, dynamo=False)
    tok_tmp = tok_file.with_suffix(f".{os.getpid()}.tmp")
    backend.save(str(tok_tmp))
    tok_tmp.replace(tok_file)
    tmp.replace(onnx_file)
    meta_file.write_text(json.dumps(meta))  # last: its presence says the export is complete
    if encoder.device != "cpu":
        encoder.model.to(encoder.device)


def _copy(backend):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(backend.to_str())


def _configure(tok, meta: dict):
    tok.no_padding()
    tok.enable_truncation(max_length=meta["context_length"])
    tok.enable_padding(pad_id=meta["pad_id"])  # to the longest in the batch
    return tok


def _tokenize(tok, texts: Sequence[str], meta: dict) -> np.ndarray:
    return np.array([e.ids for e in tok.encode_batch([clean(t) for t in texts])], dtype=np.int64)


class OpenClipTextRuntime:
    def __init__(self, fp: str, name: str, batch_size: int = 32):
        from tokenizers import Tokenizer

        from medsearch.models.openclip_files import PROBE, check_tokenizer

        onnx_file, tok_file, meta_file = _paths(fp)
        self.meta = json.loads(meta_file.read_text())
        self.tokenizer = _configure(Tokenizer.from_file(str(tok_file)), self.meta)
        check_tokenizer(_tokenize(self.tokenizer, [PROBE], self.meta)[0].tolist(), self.meta["unk_id"],
                        set(self.meta["special_ids"]), name)
        self.session = open_session(onnx_file, optimised=False)
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self.batch_size = batch_size

    def token_ids(self, texts: Sequence[str]) -> np.ndarray:
        return _tokenize(self.tokenizer, texts, self.meta)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [self.session.run(None, {"input_ids": self.token_ids(texts[s:s + self.batch_size])})[0]
               for s in range(0, len(texts), self.batch_size)]
        return l2_normalise(np.concatenate(out))


def load(fp: str, name: str) -> OpenClipTextRuntime | None:
    return OpenClipTextRuntime(fp, name) if is_exported(fp) else None
