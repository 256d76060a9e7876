"""A deterministic encoder for tests: no weights, no torch, same vectors on every machine.

Texts: each lower-cased word maps to a fixed pseudo-random vector (seeded by its hash); a text is the
normalised sum, so texts sharing words are close. Images: an 8x8 grey thumbnail through a fixed random
projection, so identical images embed identically and similar images stay close.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Sequence

import numpy as np

from medsearch.models.base import Encoder, l2_normalise

_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=65536)
def _word_vector(word: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


class FakeTransform:
    """PIL image -> (1, 8, 8) float32 in [0, 1]. A class, not a lambda, so DataLoader workers can pickle it."""

    def __call__(self, image) -> np.ndarray:
        grey = image.convert("L").resize((8, 8))
        return (np.asarray(grey, dtype=np.float32) / 255.0)[None]


class FakeEncoder(Encoder):
    def __init__(self, dim: int = 32, device: str = "cpu"):
        self.dim = dim
        self.device = device
        self.model_id = f"fake-{dim}"
        rng = np.random.default_rng(0)
        self._proj = rng.standard_normal((64, dim)).astype(np.float32)

    def image_transform(self):
        return FakeTransform()

    def encode_image_batch(self, batch) -> np.ndarray:
        arr = np.asarray(batch, dtype=np.float32).reshape(len(batch), -1)
        arr = arr - arr.mean(axis=1, keepdims=True)  # brightness-invariant, like a normalising preprocess
        return l2_normalise(arr @ self._proj)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[i] += _word_vector(word, self.dim)
        empty = ~out.any(axis=1)
        out[empty, 0] = 1.0  # an empty text still gets a valid unit vector
        return l2_normalise(out)


def load(device: str = "cpu", dim: int = 32, **_) -> FakeEncoder:
    return FakeEncoder(dim=dim, device=device)
