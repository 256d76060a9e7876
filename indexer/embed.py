"""Embedder stage: pending items through the one batch-embedding loop (``medsearch.models.embed_loop``):
DataLoader workers decode and transform images, the main process runs the encoder.

A decode failure comes back from the worker as a record (never an exception), so a corrupt image becomes
``Skipped(stage="decode")`` and the run goes on. Texts are encoded per batch in the main process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from medsearch.archives.item import Skipped
from medsearch.models.embed_loop import BatchTimings, embed_batches, encode_device

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
    """What an Embedder yields (every engine): the embed loop's ``EncodedBatch`` in the indexer's terms, its
    inputs the pending items they are and its decode failures skip records, with the same timings."""

    items: list[Embedded] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    timings: BatchTimings = field(default_factory=BatchTimings)


def decode_skip(pending: Pending, error: str) -> Skipped:
    """The skip record of an item whose image failed to decode (every engine reports it the same way)."""
    return Skipped(pending.item.key, f"{pending.item.shown_path()}: {error}", "decode")


class TorchEmbedder:
    """Pending items -> EmbeddedBatch stream, ``batch_size`` items at a time."""

    def __init__(self, encoder, batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None,
                 device: str | None = None):
        self.encoder = encoder
        self.batch_size = batch_size
        # autocast follows where the encoder's weights are; "auto" only decides for encoders that do not say
        self.device = encode_device(encoder, device)
        self.workers = default_workers(self.device) if workers is None else workers

    def embed(self, pending: Sequence[Pending]) -> Iterator[EmbeddedBatch]:
        if not pending:
            return
        paths = [p.item.image_path for p in pending]
        texts = [p.item.text if has_text(p.item) else None for p in pending]
        for batch in embed_batches(self.encoder, paths, texts, self.batch_size, self.workers, self.device):
            yield EmbeddedBatch(
                items=[Embedded(pending[position], image, text) for position, image, text in batch.kept],
                skipped=[decode_skip(pending[d.position], d.error) for d in batch.failed],
                timings=batch.timings,
            )
