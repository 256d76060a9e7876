"""Which files an open_clip model needs, checked before open_clip (or torch) is imported, and its fingerprint.

``preflight(name)`` resolves a model name to the files that must be on this machine (config, full CLIP weights,
tokenizer, the HF text tower's config) and raises ModelUnavailable naming the first missing one, so a model never
loads with random towers or a tokenizer that turns every word into [UNK]. ``fingerprint(files)`` is a streaming
sha256 over every byte of those files (every tensor of the checkpoint), cached by path, size and mtime so a
multi-hundred-MB checkpoint is hashed once, not at every query.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from medsearch.errors import ModelUnavailable

CONFIG = "open_clip_config.json"
# the full-CLIP checkpoint names open_clip looks for, in its own order of preference
WEIGHTS = (
    "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth",
)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")  # either one makes a usable HF tokenizer
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass
class ModelFiles:
    """What a model name resolves to on disk."""

    name: str
    config: dict = field(default_factory=dict)  # open_clip model_cfg (empty for open_clip:ARCH@ckpt)
    files: list[Path] = field(default_factory=list)  # everything that shapes the embeddings, hashed for model_id
    tokenizer_dir: Path | None = None  # where an HF tokenizer's files are (None: open_clip's own tokenizer)

    @property
    def text_cfg(self) -> dict:
        return self.config.get("text_cfg", {})


def _missing(what: str, path, hint: str) -> ModelUnavailable:
    return ModelUnavailable(f"{what} missing: {path}", hint=hint)


def _hf_home_hint() -> str:
    home = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
    return f"put it in the Hugging Face cache ({home}) or pass --model local-dir:/path/to/model"


def _cached(repo: str, filename: str) -> Path | None:
    """The file's path in the HF cache, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    return Path(found) if isinstance(found, str) else None


def _first(directory: Path, names) -> Path | None:
    return next((directory / n for n in names if (directory / n).is_file()), None)


def _read_config(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"unreadable open_clip config {path}: {exc}", hint="re-copy the model directory") from exc
    if "model_cfg" not in cfg:
        raise ModelUnavailable(f"open_clip config {path} has no model_cfg", hint="re-copy the model directory")
    return cfg["model_cfg"]


def _text_tower_config(cfg: dict, files: list[Path]) -> None:
    """An HF text tower (BiomedCLIP's PubMedBERT...) is built from its config.json: it must be here too."""
    hf_model = cfg.get("text_cfg", {}).get("hf_model_name")
    if not hf_model:
        return
    if Path(hf_model).is_dir():
        path = Path(hf_model) / "config.json"
        if not path.is_file():
            raise _missing("text tower config", path, "copy the text model's config.json there")
    else:
        path = _cached(hf_model, "config.json")
        if path is None:
            raise _missing("text tower config", f"{hf_model}/config.json (Hugging Face cache)", _hf_home_hint())
    files.append(path)


def _local_dir(name: str, directory: Path) -> ModelFiles:
    if not directory.is_dir():
        raise ModelUnavailable(f"model directory not found: {directory}",
                               hint="pass local-dir: with a directory holding open_clip_config.json and the weights")
    config_path = directory / CONFIG
    if not config_path.is_file():
        raise _missing("open_clip config", config_path, f"a local-dir model needs {CONFIG} and its weights")
    cfg = _read_config(config_path)
    weights = _first(directory, WEIGHTS)
    if weights is None:
        raise _missing("model weights", directory / WEIGHTS[0],
                       f"copy the full CLIP checkpoint ({' or '.join(WEIGHTS[:3])}) into {directory}")
    files = [config_path, weights]
    tok_dir = None
    if cfg.get("text_cfg", {}).get("hf_tokenizer_name"):
        tok = _first(directory, TOKENIZER_FILES)
        if tok is None:
            raise _missing("tokenizer", directory / TOKENIZER_FILES[1],
                           f"copy the text tower's tokenizer files (vocab.txt, tokenizer_config.json) into {directory}")
        files.append(tok)
        tok_dir = directory
    _text_tower_config(cfg, files)
    return ModelFiles(name, cfg, files, tok_dir)


def _hub(name: str, repo: str) -> ModelFiles:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailable("huggingface_hub is not installed", hint="pip install 'medsearch[openclip]'") from exc
    config_path = _cached(repo, CONFIG)
    if config_path is None:
        raise _missing("open_clip config", f"{repo}/{CONFIG} (Hugging Face cache)", _hf_home_hint())
    cfg = _read_config(config_path)
    weights = next((p for p in (_cached(repo, w) for w in HUB_WEIGHTS) if p is not None), None)
    if weights is None:
        raise _missing("model weights", f"{repo}/{HUB_WEIGHTS[1]} (Hugging Face cache)", _hf_home_hint())
    files = [config_path, weights]
    tok_dir = None
    tok_repo = cfg.get("text_cfg", {}).get("hf_tokenizer_name")
    if tok_repo:
        tok = next((p for p in (_cached(tok_repo, f) for f in TOKENIZER_FILES) if p is not None), None)
        if tok is None:
            raise _missing("tokenizer", f"{tok_repo}/{TOKENIZER_FILES[1]} (Hugging Face cache)", _hf_home_hint())
        files.append(tok)
        tok_dir = tok.parent
    _text_tower_config(cfg, files)
    return ModelFiles(name, cfg, files, tok_dir)


def _arch(name: str, spec: str) -> ModelFiles:
    arch, sep, ckpt = spec.partition("@")
    if not sep or not arch or not ckpt:
        raise ModelUnavailable(f"bad open_clip model name {name!r}", hint="write it as open_clip:ARCH@/path/to/checkpoint.pt")
    if not Path(ckpt).is_file():
        raise ModelUnavailable(f"open_clip checkpoint not found: {ckpt}", hint="pass open_clip:ARCH@/path/to/an/existing/checkpoint.pt")
    return ModelFiles(name, {}, [Path(ckpt)], None)


@dataclass(frozen=True)
class ModelSource:
    """A prefix that names an open_clip model by where its files are (``--model hf-hub:ORG/NAME``, ...)."""

    prefix: str
    form: str  # how `medsearch models` and hints write a name of this source
    summary: str
    check: Callable[[str, str], ModelFiles]  # (whole name, name after the prefix) -> the files, checked

    def rest(self, name: str) -> str:
        return name[len(self.prefix):]


# The one table of model-source prefixes: the registry, the loader (``openclip``) and `medsearch models` read it.
HF_HUB = ModelSource("hf-hub:", "hf-hub:ORG/NAME", "open_clip model already in the Hugging Face cache", _hub)
LOCAL_DIR = ModelSource("local-dir:", "local-dir:PATH",
                        "open_clip model saved in a local directory, or a `medsearch train` run folder",
                        lambda name, rest: _local_dir(name, Path(rest)))
OPEN_CLIP = ModelSource("open_clip:", "open_clip:ARCH@CKPT", "open_clip architecture with a checkpoint file", _arch)
SOURCES = (HF_HUB, LOCAL_DIR, OPEN_CLIP)


def source_of(name: str) -> ModelSource | None:
    """The source a model name's prefix names, or None for a name without one."""
    return next((source for source in SOURCES if name.startswith(source.prefix)), None)


def arch_and_checkpoint(name: str) -> tuple[str, str] | None:
    """``open_clip:ARCH@CKPT`` -> (ARCH, CKPT); None for a name of another source."""
    if source_of(name) is not OPEN_CLIP:
        return None
    arch, _, ckpt = OPEN_CLIP.rest(name).partition("@")
    return arch, ckpt


def preflight(name: str) -> ModelFiles:
    source = source_of(name)
    if source is None:
        raise ModelUnavailable(f"not an open_clip model name: {name!r}",
                               hint=f"use {', '.join(s.form for s in SOURCES)}")
    return source.check(name, source.rest(name))


# --- fingerprint -------------------------------------------------------------------------------------

def _hash_cache_path() -> Path:
    from medsearch.models.onnx_cache import cache_dir

    return cache_dir() / "fingerprints.json"


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """sha256 of the whole file, streamed; remembered by (resolved path, size, mtime_ns)."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    store = _hash_cache_path()
    try:
        known = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    known = {k: v for k, v in known.items() if not k.startswith(f"{path}|")}
    known[key] = h.hexdigest()
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(store)
    except OSError:
        pass  # a read-only cache only costs re-hashing next time
    return known[key]


def fingerprint(files: list[Path]) -> str:
    """12 hex digits over the contents of every file (names excluded: a renamed copy keeps its id)."""
    h = hashlib.sha256()
    for path in files:
        h.update(file_sha256(path).encode())
    return h.hexdigest()[:12]


# A sentence every medical text tower must tokenise into known words: a fallback vocabulary turns it into [UNK].
PROBE = "chest radiograph showing a large left pleural effusion and enlarged heart"


def check_tokenizer(ids: Sequence[int], unk_id: int | None, special_ids: set[int], name: str) -> None:
    """Refuse a tokenizer that maps ordinary words to [UNK] (a fallback vocabulary), or all to one id."""
    content = [i for i in ids if i not in special_ids or i == unk_id]
    unknown = sum(1 for i in content if i == unk_id) if unk_id is not None else 0
    if not content or unknown * 2 > len(content) or len(set(content)) <= 1:
        raise ModelUnavailable(
            f"the tokenizer of {name} does not know ordinary words ({unknown} of {len(content)} tokens unknown "
            f"in {PROBE!r}): its vocabulary file is missing or wrong",
            hint="copy the text tower's vocab.txt / tokenizer.json that belongs to this checkpoint",
        )
