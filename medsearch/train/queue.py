"""MoCo-style momentum queue: an EMA copy of the trainable model embeds keys, the last ``size`` keys are negatives.

With a few thousand pairs the batch holds few negatives; the queue adds past embeddings from a slowly moving
copy of the model, so they stay consistent with the current one.
"""

from __future__ import annotations

import copy

import torch


class MomentumQueue:
    def __init__(self, model: torch.nn.Module, size: int, dim: int, momentum: float = 0.995):
        self.key_model = copy.deepcopy(model).eval()
        for p in self.key_model.parameters():
            p.requires_grad_(False)
        self.size, self.momentum = size, momentum
        self.image = torch.zeros(0, dim)
        self.text = torch.zeros(0, dim)

    @torch.no_grad()
    def update_key_model(self, model: torch.nn.Module) -> None:
        for k, q in zip(self.key_model.parameters(), model.parameters()):
            k.mul_(self.momentum).add_(q.detach(), alpha=1 - self.momentum)

    @torch.no_grad()
    def push(self, image: torch.Tensor, text: torch.Tensor) -> None:
        """Newest first; the oldest fall off the end."""
        self.image = torch.cat([image.detach().cpu(), self.image])[: self.size]
        self.text = torch.cat([text.detach().cpu(), self.text])[: self.size]

    def negatives(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image.to(device), self.text.to(device)
