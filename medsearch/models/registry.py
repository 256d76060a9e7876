"""The one place that maps a model name to its loader, preprocessing, tokenizer and embedding size.

Loaders are named as "module:function" strings and imported only when a model is loaded, so that listing
models (and `medsearch --help`) never imports torch. Names with a model-source prefix (``hf-hub:``,
``local-dir:``, ``open_clip:``; the table is ``openclip_files.SOURCES``) become open_clip specs here.

Loading stamps the encoder with its ``ModelIdentity`` (the registry name, the device asked for), which indexing
and ``open_index`` read beside the encoder's ``model_id`` instead of resolving the name again.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from medsearch.errors import UnknownModel

DEFAULT_MODEL = "medsearch-default"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    loader: str  # "module:function"; the function takes (device=..., **options) and returns an Encoder
    dim: int | None  # None when it depends on the checkpoint
    preprocess: str
    tokenizer: str
    missing_hint: str = ""
    options: dict = field(default_factory=dict)

    def load(self, device: str = "auto", **options):
        """The encoder, stamped with its identity: this spec's name, the device asked for."""
        from medsearch.models.base import ModelIdentity

        from medsearch.models.device import check_device

        device = check_device(device)  # the device it runs on: "cpu:0" is "cpu"
        module_name, func_name = self.loader.split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        encoder = func(device=device, **{**self.options, **options})
        encoder.identity = ModelIdentity(name=self.name, device=device)
        return encoder


def open_clip_spec(name: str, summary: str, source: str, dim: int | None = None,
                   preprocess: str = "open_clip transform of the checkpoint",
                   tokenizer: str = "open_clip tokenizer of the checkpoint") -> ModelSpec:
    """A model the open_clip loader loads from ``source`` (a name with a model-source prefix)."""
    return ModelSpec(name, summary, "medsearch.models.openclip:load", dim, preprocess, tokenizer,
                     missing_hint=OPEN_CLIP_HINT, options={"name": source})


BIOMEDCLIP_HUB = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
OPEN_CLIP_HINT = (
    "pip install 'medsearch[openclip]' and put the BiomedCLIP files in the Hugging Face cache "
    "(HF_HOME) or pass --model local-dir:/path/to/biomedclip"
)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name=DEFAULT_MODEL,
            summary=("embedded default (best): EfficientNet-Lite0 + MiniLM-L6 towers, contrastive heads trained on ROCO "
                     "(all licences) + MedPix 2.0; research and education use (see MODEL_CARD.md)"),
            loader="medsearch.models.default:load",
            dim=256,
            preprocess="224 px letterbox, RGB, mean=std=0.5",
            tokenizer="all-MiniLM-L6-v2 WordPiece, 128 tokens",
        ),
        ModelSpec(
            name="medsearch-default-cc",
            summary=("embedded, redistributable training data: same towers, heads trained only on ROCO CC BY / CC0 "
                     "rows (weaker; for users who need redistributable training data)"),
            loader="medsearch.models.default:load_cc",
            dim=256,
            preprocess="224 px letterbox, RGB, mean=std=0.5",
            tokenizer="all-MiniLM-L6-v2 WordPiece, 128 tokens",
        ),
        open_clip_spec(
            "biomedclip", "Microsoft BiomedCLIP (ViT-B/16 + PubMedBERT) via open_clip", BIOMEDCLIP_HUB, dim=512,
            preprocess="open_clip transform of the checkpoint (224 px)",
            tokenizer="open_clip tokenizer of the checkpoint (PubMedBERT, 256 tokens)",
        ),
        ModelSpec(
            name="fake",
            summary="deterministic hashing encoder for tests (no weights, no torch)",
            loader="medsearch.models.fake:load",
            dim=32,
            preprocess="8x8 grey thumbnail",
            tokenizer="lower-case words",
        ),
    )
}

def resolve(name: str | None) -> ModelSpec:
    """Name (or None for the default) -> spec. Names with a model-source prefix become open_clip specs."""
    from medsearch.models.openclip_files import LOCAL_DIR, SOURCES, source_of

    name = name or DEFAULT_MODEL
    if name in MODELS:
        return MODELS[name]
    source = source_of(name)
    if source is LOCAL_DIR and (trained := default_run_weights(Path(source.rest(name)))) is not None:
        summary = f"medsearch-default trained by `medsearch train` ({trained})"
        return replace(MODELS[DEFAULT_MODEL], name=name, summary=summary, options={"weights": str(trained)})
    if source is not None:
        return open_clip_spec(name, f"open_clip model {name}", name)
    unknown = UnknownModel(name, list(MODELS) + [f"{source.prefix}..." for source in SOURCES])
    if Path(name).is_dir():  # a model's folder given without its prefix
        unknown.hint = f"{name} is a folder: to load the model saved there, pass --model {LOCAL_DIR.prefix}{name}"
    raise unknown


def default_run_weights(directory: Path) -> Path | None:
    """The weights a `medsearch train` run of the default model exported into ``directory`` (its --out), when
    that folder is such a run and not an open_clip model's (which holds open_clip_config.json)."""
    from medsearch.models.default import RUN_WEIGHTS
    from medsearch.models.openclip_files import CONFIG

    weights = directory / RUN_WEIGHTS
    return weights if weights.is_file() and not (directory / CONFIG).is_file() else None


def load_encoder(name: str | None = None, device: str = "auto", **options):
    """The encoder a model name names (``medsearch models``; None: the default), loaded on ``device`` (auto, cpu,
    cuda[:N], ...). Raises UnknownModel for a name the registry lacks, ModelUnavailable when its files are missing."""
    return resolve(name).load(device=device, **options)


def list_models() -> list[ModelSpec]:
    """The registry's models (``ModelSpec``: name, summary, dim, preprocess, tokenizer): what ``--model`` takes,
    besides the hf-hub:, local-dir: and open_clip: sources."""
    return list(MODELS.values())
