"""What every encoder offers. Arrays cross this boundary as float32 numpy, L2-normalised rows."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class ModelIdentity:
    """How an encoder was loaded, stamped on it by the registry (``ModelSpec.load``): the name indexing writes
    into the manifest beside the encoder's own ``model_id``, and how a Ray actor loads it again. The model id
    is the encoder's alone (it fingerprints its weights); ``IndexManifest.check_encoder`` reads both."""

    name: str  # the registry name it was loaded by (what --model accepts): the manifest's model_name
    device: str  # the device asked for ("auto" is resolved where the model runs: the embedder, each Ray actor)


class Encoder(abc.ABC):
    """A dual encoder: image tower + text tower projected into one normalised space.

    ``model_id`` is the identity written into index manifests (name plus a weights fingerprint);
    a query is refused when it differs from the index's. ``identity`` is the registry name and device.
    """

    model_id: str
    dim: int
    device: str = "cpu"
    _identity: ModelIdentity | None = None

    @property
    def identity(self) -> ModelIdentity:
        """Stamped at load by the registry; an encoder built directly (tests) is named by its model id."""
        if self._identity is not None:
            return self._identity
        return ModelIdentity(name=self.model_id, device=self.device)

    @identity.setter
    def identity(self, identity: ModelIdentity) -> None:
        self._identity = identity

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
