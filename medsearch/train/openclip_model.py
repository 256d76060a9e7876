"""Fine-tuning an open_clip model (e.g. BiomedCLIP) end to end on image/text pairs: the basic path.

Every step loads and preprocesses its images, so this is for a GPU; on a CPU expect a few pairs per second.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from medsearch.archives.item import Item


class OpenClipModule(nn.Module):
    def __init__(self, name: str, device: str = "cpu"):
        super().__init__()
        from medsearch.models.openclip import create
        from medsearch.models.openclip_image import ImageTransform, PreprocessSettings

        self.towers, _, self.tokenizer = create(name, device)
        # the pixels the index and image queries embed (openclip_image owns the preprocessing), not a second copy
        self.preprocess = ImageTransform(PreprocessSettings.of_model(self.towers))
        self.device_name = device
        with torch.no_grad():
            dim = self.towers.encode_text(self.tokenizer(["x"]).to(device)).shape[-1]
        self.config = {"dim": int(dim), "open_clip": name}

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.towers.encode_image(batch["images"].to(self.device_name))
        text = self.towers.encode_text(batch["tokens"].to(self.device_name))
        return F.normalize(image, dim=-1), F.normalize(text, dim=-1)

    def scale(self) -> torch.Tensor:
        return self.towers.logit_scale.exp().clamp(max=100.0)


class ItemData:
    """Row numbers of a list of Items -> preprocessed image tensors and tokens (no caching)."""

    def __init__(self, items: list[Item], preprocess, tokenizer):
        from medsearch.imaging import load_image

        self.items, self.preprocess, self.tokenizer, self._load = items, preprocess, tokenizer, load_image
        self.label_sets = [frozenset(label for label in it.labels if label.startswith("C")) for it in items]

    def batch(self, rows: np.ndarray) -> dict:
        images = torch.stack([torch.from_numpy(self.preprocess(self._load(self.items[r].image_path))) for r in rows])
        return {"images": images, "tokens": self.tokenizer([self.items[r].text for r in rows])}

    def labels(self, rows: np.ndarray) -> list[frozenset]:
        return [self.label_sets[r] for r in rows]
