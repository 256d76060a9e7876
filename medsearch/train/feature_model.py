"""The fast trainable: projection heads (and optionally the last tower block/layer) over cached features."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from medsearch.models import towers
from medsearch.models.heads import DualHeads
from medsearch.train.features import FeatureCache


class FeatureModel(nn.Module):
    """heads + optional ``image_top`` (last EfficientNet stage + conv head) + optional ``text_top`` (last MiniLM layer).

    The unfrozen tower parts keep their BatchNorm statistics and run without dropout (eval mode) even while
    training; only the heads use dropout and feature noise.
    """

    def __init__(self, dim=256, hidden=512, dropout=0.1, image_top=0, text_top=0, feature_noise=0.0, multiscale=False):
        super().__init__()
        self.config = dict(dim=dim, hidden=hidden, dropout=dropout, image_top=image_top, text_top=text_top)
        self.multiscale = multiscale
        if multiscale:  # heads also see the last image stage's and the last text layer's inputs, pooled
            if image_top or text_top:
                raise ValueError("multiscale features are for frozen towers")
            self.config["multiscale"] = True
        self.heads = DualHeads(*towers.feature_dims(multiscale), dim, hidden, dropout)
        self.feature_noise = feature_noise
        self.image_top = self.text_top = None
        if image_top:
            self.image_top = towers.image_top(towers.build_image_tower(), image_top)
        if text_top:
            self.text_top = towers.top_layers(towers.build_text_tower(), text_top)

    def train(self, mode: bool = True):
        super().train(mode)
        for part in (self.image_top, self.text_top):
            if part is not None:
                part.eval()
        return self

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.feature_noise > 0:
            return x + self.feature_noise * x.std(dim=0, keepdim=True) * torch.randn_like(x)
        return x

    def image_features(self, batch: dict) -> torch.Tensor:
        if self.multiscale:
            return torch.cat([batch["image_pooled"], batch["image_mid"]], dim=-1)
        if self.image_top is not None:
            return self.image_top(batch["image_map"].float().contiguous(memory_format=torch.channels_last))
        return batch["image_pooled"]

    def text_features(self, batch: dict) -> torch.Tensor:
        if self.multiscale:
            return torch.cat([batch["text_pooled"], batch["text_mid"]], dim=-1)
        if self.text_top is None:
            return batch["text_pooled"]
        return towers.pooled_top(self.text_top, batch["text_hidden"], batch["text_mask"])

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.heads.image(self._noisy(self.image_features(batch)))
        text = self.heads.text(self._noisy(self.text_features(batch)))
        return image, text

    def scale(self) -> torch.Tensor:
        return self.heads.scale()


class FeatureData:
    """Turns row numbers of a FeatureCache into the tensor batch a FeatureModel needs."""

    def __init__(self, cache: FeatureCache, image_top: int, text_top: int):
        if image_top and "image_map" not in cache.tensors:
            raise ValueError("this feature cache has no image maps; rebuild it with --unfreeze-image")
        self.cache, self.image_top, self.text_top = cache, image_top, text_top
        self.label_sets = [frozenset(label for label in ls if label.startswith("C")) for ls in cache.labels]

    def batch(self, rows: np.ndarray) -> dict:
        t = self.cache.tensors
        out = {}
        if self.image_top:
            out["image_map"] = torch.from_numpy(t["image_map"][rows])
        else:
            out["image_pooled"] = torch.from_numpy(t["image_pooled"][rows])
        if self.text_top:
            hidden, mask = self.cache.text_tokens(rows)
            out["text_hidden"], out["text_mask"] = torch.from_numpy(hidden), torch.from_numpy(mask)
        else:
            out["text_pooled"] = torch.from_numpy(t["text_pooled"][rows])
        return out

    def labels(self, rows: np.ndarray) -> list[frozenset]:
        return [self.label_sets[r] for r in rows]
