"""Embedder stage: DataLoader workers decode and transform images, the main process runs the encoder.

A decode failure comes back from the worker as a record (never an exception), so a corrupt image becomes
``Skipped(stage="decode")`` and the run goes on. Texts are encoded per batch in the main process.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from medsearch.archives.item import Skipped
from medsearch.errors import BadItem
from medsearch.imaging import load_image
from medsearch.models.device import autocast, resolve_device

from indexer.reader import Pending, has_text

DEFAULT_BATCH_SIZE = 64


def default_workers(device: str) -> int:
    """Image-decoding processes. On a GPU they keep it fed. On the CPU the encoder already uses every core and a
    decode process only competes with it: on 2 cores the demo archive indexed in 17.9 s with none, 21.0 s with one
    (benchmarks/README.md, indexing throughput)."""
    if device.startswith("cuda"):
        return min(4, max(0, (os.cpu_count() or 1) - 1))
    return 0


@dataclass
class Embedded:
    pending: Pending
    image: np.ndarray | None  # (dim,) or None when the item has no image
    text: np.ndarray | None  # (dim,) or None when the item has no text


@dataclass
class EmbeddedBatch:
    items: list[Embedded] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    decode_wait_s: float = 0.0  # main process blocked on the loader
    decode_worker_s: float = 0.0  # decode + transform time summed over workers
    embed_s: float = 0.0


@dataclass
class Decoded:
    position: int
    array: np.ndarray | None
    error: str | None
    seconds: float


class DecodeDataset(Dataset):
    """Image path (or None) -> Decoded. Runs in DataLoader workers; picklable."""

    def __init__(self, paths: Sequence, transform):
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> Decoded:
        path = self.paths[position]
        if path is None:
            return Decoded(position, None, None, 0.0)
        start = time.perf_counter()
        try:
            array = np.asarray(self.transform(load_image(path)), dtype=np.float32)
        except BadItem as exc:
            return Decoded(position, None, getattr(exc, "reason", str(exc)), time.perf_counter() - start)
        return Decoded(position, array, None, time.perf_counter() - start)


def decode_skip(pending: Pending, error: str) -> Skipped:
    """The skip record of an item whose image failed to decode (every engine reports it the same way)."""
    return Skipped(pending.item.key, f"{pending.item.shown_path()}: {error}", "decode")


def keep_list(batch: list[Decoded]) -> list[Decoded]:
    return batch


def one_thread_per_worker(_worker_id: int) -> None:
    torch.set_num_threads(1)  # workers decode; letting each also spawn BLAS threads oversubscribes the CPU


class TorchEmbedder:
    """Pending items -> EmbeddedBatch stream, ``batch_size`` items at a time."""

    def __init__(self, encoder, batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None,
                 device: str | None = None):
        self.encoder = encoder
        self.batch_size = batch_size
        # autocast follows where the encoder's weights are; "auto" only decides for encoders that do not say
        chosen = device if device not in (None, "auto") else getattr(encoder, "device", None)
        self.device = resolve_device(chosen or "auto")
        self.workers = default_workers(self.device) if workers is None else workers

    def embed(self, pending: Sequence[Pending]) -> Iterator[EmbeddedBatch]:
        if not pending:
            return
        dataset = DecodeDataset([p.item.image_path for p in pending], self.encoder.image_transform())
        loader = DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.workers,
            collate_fn=keep_list,
            worker_init_fn=one_thread_per_worker if self.workers else None,
            prefetch_factor=4 if self.workers else None,
        )
        batches = iter(loader)
        while True:
            start = time.perf_counter()
            decoded = next(batches, None)
            if decoded is None:
                return
            wait = time.perf_counter() - start
            batch = self._encode(pending, decoded)
            batch.decode_wait_s = wait
            yield batch

    def _encode(self, pending: Sequence[Pending], decoded: list[Decoded]) -> EmbeddedBatch:
        batch = EmbeddedBatch(decode_worker_s=sum(d.seconds for d in decoded))
        kept: list[tuple[Pending, np.ndarray | None]] = []
        for d in decoded:
            if d.error is not None:
                p = pending[d.position]
                batch.skipped.append(decode_skip(p, d.error))
            else:
                kept.append((pending[d.position], d.array))
        start = time.perf_counter()
        images = self._encode_images([a for _, a in kept if a is not None])
        texts = self._encode_texts([p.item.text for p, _ in kept if has_text(p.item)])
        batch.embed_s = time.perf_counter() - start
        image_rows, text_rows = iter(images), iter(texts)
        for p, array in kept:
            image = next(image_rows) if array is not None else None
            text = next(text_rows) if has_text(p.item) else None
            batch.items.append(Embedded(p, image, text))
        return batch

    def _encode_images(self, arrays: list[np.ndarray]) -> np.ndarray:
        if not arrays:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        with torch.inference_mode(), autocast(self.device):
            return np.asarray(self.encoder.encode_image_batch(np.stack(arrays)), dtype=np.float32)

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        with torch.inference_mode(), autocast(self.device):
            return np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)
