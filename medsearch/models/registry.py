"""The one place that maps a model name to its loader, preprocessing, tokenizer and embedding size.

Loaders are named as "module:function" strings and imported only when a model is loaded, so that listing
models (and `medsearch --help`) never imports torch. Names with a prefix are parsed here too:

- ``hf-hub:ORG/NAME``            an open_clip model from the Hugging Face cache (offline: must already be cached)
- ``local-dir:/path``            an open_clip model saved in a local directory (open_clip_config.json + weights)
- ``open_clip:ARCH@/path.pt``    any open_clip architecture with a checkpoint file
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

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
        module_name, func_name = self.loader.split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        return func(device=device, **{**self.options, **options})


BIOMEDCLIP_HUB = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"

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
        ModelSpec(
            name="biomedclip",
            summary="Microsoft BiomedCLIP (ViT-B/16 + PubMedBERT) via open_clip",
            loader="medsearch.models.openclip:load",
            dim=512,
            preprocess="open_clip transform of the checkpoint (224 px)",
            tokenizer="open_clip tokenizer of the checkpoint (PubMedBERT, 256 tokens)",
            missing_hint=(
                "pip install 'medsearch[openclip]' and put the BiomedCLIP files in the Hugging Face cache "
                "(HF_HOME) or pass --model local-dir:/path/to/biomedclip"
            ),
            options={"name": BIOMEDCLIP_HUB},
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

_PREFIXES = {
    "hf-hub:": "hub",
    "local-dir:": "local",
    "open_clip:": "arch",
}


def resolve(name: str | None) -> ModelSpec:
    """Name (or None for the default) -> spec. Prefixed names become open_clip specs."""
    name = name or DEFAULT_MODEL
    if name in MODELS:
        return MODELS[name]
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return ModelSpec(
                name=name,
                summary=f"open_clip model {name}",
                loader="medsearch.models.openclip:load",
                dim=None,
                preprocess="open_clip transform of the checkpoint",
                tokenizer="open_clip tokenizer of the checkpoint",
                missing_hint=MODELS["biomedclip"].missing_hint,
                options={"name": name},
            )
    raise UnknownModel(name, list(MODELS) + [f"{p}..." for p in _PREFIXES])


def load_encoder(name: str | None = None, device: str = "auto", **options):
    return resolve(name).load(device=device, **options)


def list_models() -> list[ModelSpec]:
    return list(MODELS.values())
