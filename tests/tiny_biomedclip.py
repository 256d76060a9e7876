"""A tiny BiomedCLIP-shaped open_clip model made on the spot: random weights, the real config shape.

Image: timm ``test_vit`` (a 370k-parameter ViT, 160 px) with a linear projection, like BiomedCLIP's
``vit_base_patch16_224``; text: an HF BERT (2 layers, width 32) with CLS pooling and an MLP projection, like
BiomedCLIP's PubMedBERT, and a small WordPiece vocabulary. Written either as a ``local-dir:`` model or into a
Hugging Face cache layout (``models--ORG--NAME/snapshots/<rev>/...`` + ``refs/main``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

WORDS = (
    "a an the of and with without on in left right chest radiograph ct mri scan showing large small pleural "
    "effusion heart enlarged normal lung mass nodule brain liver kidney fracture contrast abdomen axial image "
    "pneumothorax consolidation bilateral acute no"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
REV = "0123456789abcdef0123456789abcdef01234567"


def write_text_tower(directory: Path, words=WORDS) -> Path:
    """BERT config + WordPiece vocab (what a tokenizer and an HF text tower are built from)."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL + list(words) + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz.,")
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}))
    config = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": len(dict.fromkeys(vocab)),
              "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
              "max_position_embeddings": 64, "type_vocab_size": 2, "pad_token_id": 0}
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def model_cfg(text_tower: str) -> dict:
    return {
        "embed_dim": 16,
        "vision_cfg": {"timm_model_name": "test_vit", "timm_model_pretrained": False, "timm_pool": "",
                       "timm_proj": "linear", "image_size": 160},
        "text_cfg": {"hf_model_name": text_tower, "hf_tokenizer_name": text_tower, "hf_proj_type": "mlp",
                     "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 32},
    }


def write_model(directory: Path, text_tower: Path, config_name: str | None = None, seed: int = 0) -> Path:
    """open_clip_config.json + open_clip_model.safetensors (+ the tokenizer files, as BiomedCLIP's repo has)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    cfg = model_cfg(config_name or str(text_tower))
    (directory / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": cfg,
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
    }))
    torch.manual_seed(seed)
    text_cfg = {**cfg["text_cfg"], "hf_model_name": str(text_tower), "hf_model_pretrained": False}
    model = open_clip.CustomTextCLIP(embed_dim=16, vision_cfg=cfg["vision_cfg"], text_cfg=text_cfg)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "open_clip_model.safetensors"))
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(text_tower / name, directory / name)
    return directory


def local_model(root: Path) -> Path:
    tower = write_text_tower(root / "tinybert")
    return write_model(root / "tinybiomedclip", tower)


def _snapshot(cache: Path, repo: str) -> Path:
    base = cache / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(REV)
    snap = base / "snapshots" / REV
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def hub_cache(cache: Path, repo: str = "test-org/tiny-biomedclip", text_repo: str = "test-org/tinybert") -> str:
    """The model and its text tower in a Hugging Face hub cache at ``cache``; returns the hf-hub: name."""
    tower = write_text_tower(_snapshot(cache, text_repo))
    write_model(_snapshot(cache, repo), tower, config_name=text_repo)
    return f"hf-hub:{repo}"
