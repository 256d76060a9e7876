"""What every encoder offers. Arrays cross this boundary as float32 numpy, L2-normalised rows."""

from __future__ import annotations

import abc
from typing import Callable, Sequence

import numpy as np


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class Encoder(abc.ABC):
    """A dual encoder: image tower + text tower projected into one normalised space.

    ``model_id`` is the identity written into index manifests (name plus a weights fingerprint);
    a query is refused when it differs from the index's.
    """

    model_id: str
    dim: int
    device: str = "cpu"

    @abc.abstractmethod
    def image_transform(self) -> Callable:
        """A picklable callable PIL.Image (RGB) -> float32 CHW array; runs in DataLoader workers."""

    @abc.abstractmethod
    def encode_image_batch(self, batch) -> np.ndarray:
        """(n, C, H, W) array or tensor, already transformed -> (n, dim) normalised float32."""

    @abc.abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (n, dim) normalised float32."""

    def encode_images(self, images: Sequence) -> np.ndarray:
        """PIL images -> (n, dim). Convenience for queries; batch indexing goes through the DataLoader."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        tf = self.image_transform()
        return self.encode_image_batch(np.stack([tf(im) for im in images]))

    @property
    def logit_scale(self) -> float:
        """exp(learned temperature); 100 for CLIP-like models unless trained otherwise."""
        return 100.0
