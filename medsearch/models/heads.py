"""Projection heads that map both towers' features into one normalised space, plus the learned temperature."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class ProjectionHead(nn.Module):
    """LayerNorm -> Linear -> GELU -> Dropout -> Linear, plus a linear shortcut; output L2-normalised.

    ``hidden=0`` leaves only the linear map (the linear-probe baseline).
    """

    def __init__(self, in_dim: int, out_dim: int = 256, hidden: int = 512, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.fc1 = nn.Linear(in_dim, hidden) if hidden else None
        self.fc2 = nn.Linear(hidden, out_dim) if hidden else None
        self.shortcut = nn.Linear(in_dim, out_dim, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        y = self.shortcut(x)
        if self.fc1 is not None:
            y = y + self.fc2(self.drop(F.gelu(self.fc1(x))))
        return F.normalize(y, dim=-1)


class DualHeads(nn.Module):
    """The trainable part of the default model on top of the towers' pooled features."""

    def __init__(self, image_dim: int, text_dim: int, dim: int = 256, hidden: int = 512, dropout: float = 0.1):
        super().__init__()
        self.image = ProjectionHead(image_dim, dim, hidden, dropout)
        self.text = ProjectionHead(text_dim, dim, hidden, dropout)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(100.0)).exp()
