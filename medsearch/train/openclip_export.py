"""A fine-tuned open_clip model as a ``local-dir:`` model directory that ``--model local-dir:PATH`` indexes directly.

The directory holds open_clip_config.json (the source model's, or the built-in architecture's config),
open_clip_model.safetensors (the best epoch's full state dict) and the tokenizer files of an HF text tower.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from medsearch.models.openclip_files import CONFIG, arch_and_checkpoint, preflight

TOKENIZER_NAMES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
PREFIX = "towers."  # OpenClipModule keeps the open_clip model as ``towers``


def _config(name: str, files) -> dict:
    if files.config:
        source = next(p for p in files.files if p.name == CONFIG)
        return json.loads(source.read_text())
    import open_clip

    arch, _ = arch_and_checkpoint(name)  # only open_clip: names come without a config file
    return {"model_cfg": open_clip.get_model_config(arch), "preprocess_cfg": {}}


def export_local_dir(best_file: Path, name: str, out: Path) -> Path:
    files = preflight(name)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).write_text(json.dumps(_config(name, files), indent=1))
    tensors = {k[len(PREFIX):]: v.contiguous() for k, v in load_file(str(best_file)).items() if k.startswith(PREFIX)}
    save_file(tensors, str(out / "open_clip_model.safetensors"))
    if files.tokenizer_dir is not None:
        for tok in TOKENIZER_NAMES:
            if (files.tokenizer_dir / tok).is_file():
                shutil.copy(files.tokenizer_dir / tok, out / tok)
    return out
