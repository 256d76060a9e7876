"""The torch side of the embedded default: towers with the trained weights laid over them.

Only imported when an image is encoded or the text tower is exported to ONNX, never for a text query.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file

from medsearch.models import towers
from medsearch.models.heads import DualHeads


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Trained tensors (float32) and the config stored in the file's metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        config = json.loads((f.metadata() or {})["config"])
    tensors = {k: v.float() for k, v in load_file(str(path)).items()}
    return tensors, config.get("model", config)


def _part(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def build_heads(tensors: dict, config: dict) -> nn.Module:
    """The trained heads; with ``ensemble: K`` in the config, K heads trained from different seeds whose unit
    outputs are concatenated and scaled by 1/sqrt(K), so a dot product is the mean of the members' cosines."""
    k = int(config.get("ensemble", 1))
    if k == 1:
        heads = DualHeads(*towers.feature_dims(config.get("multiscale", False)), config["dim"], config["hidden"], 0.0)
        heads.load_state_dict(_part(tensors, "heads."))
        return heads.eval()
    members = []
    for i in range(k):
        member = DualHeads(*towers.feature_dims(config.get("multiscale", False)), config["member_dim"], config["hidden"], 0.0)
        member.load_state_dict(_part(tensors, f"heads.{i}."))
        members.append(member.eval())
    return EnsembleHeads(members).eval()


class Concat(nn.Module):
    def __init__(self, parts):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in self.parts], dim=-1) / len(self.parts) ** 0.5


class EnsembleHeads(nn.Module):
    def __init__(self, members):
        super().__init__()
        self.image = Concat([m.image for m in members])
        self.text = Concat([m.text for m in members])


class ImageEncoder(nn.Module):
    """(n, 3, 224, 224) in [-1, 1] -> (n, dim) normalised."""

    def __init__(self, tensors: dict, config: dict):
        super().__init__()
        self.tower = towers.build_image_tower()
        if config.get("image_top"):
            towers.image_top(self.tower, config["image_top"]).load_state_dict(_part(tensors, "image_top."))
        self.head = build_heads(tensors, config).image
        self.multiscale = bool(config.get("multiscale"))
        if self.multiscale:
            self.trunk, self.top = towers.ImageTrunk(self.tower, 1), towers.image_top(self.tower, 1)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if self.multiscale:  # the pooled output plus the pooled input of the last stage
            fmap = self.trunk(x)
            return self.head(torch.cat([self.top(fmap), fmap.mean(dim=(2, 3))], dim=-1))
        return self.head(self.tower(x))


class TextEncoder(nn.Module):
    """(input_ids, attention_mask) int64 -> (n, dim) normalised. The graph exported to ONNX."""

    def __init__(self, tensors: dict, config: dict):
        super().__init__()
        self.bert = towers.build_text_tower()
        n_top = config.get("text_top", 0)
        if n_top:
            towers.top_layers(self.bert, n_top).load_state_dict(_part(tensors, "text_top."))
        self.head = build_heads(tensors, config).text
        self.multiscale = bool(config.get("multiscale"))
        self.eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        embedded = self.bert.embeddings(input_ids=input_ids)
        *_, mid, hidden = towers.hidden_states(self.bert.encoder.layer, embedded, attention_mask)
        pooled = towers.mean_pool(hidden, attention_mask)
        if self.multiscale:  # plus the mean-pooled input of the last layer
            pooled = torch.cat([pooled, towers.mean_pool(mid, attention_mask)], dim=-1)
        return self.head(pooled)
