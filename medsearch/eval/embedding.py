"""Embed an archive's items in memory (no index): images through the encoder's transform and batch encoder,
texts through ``encode_texts``. Images that fail to decode are recorded as Skipped and left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from medsearch.archives.item import Item, Skipped
from medsearch.errors import BadItem


@dataclass
class Embedded:
    items: list[Item]
    image_vectors: np.ndarray | None  # (n, dim), row i belongs to items[i]
    text_vectors: np.ndarray | None
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [item.text or "" for item in self.items]


def embed_items(items: Iterable[Item], encoder, batch_size: int = 64, images: bool = True, texts: bool = True,
                show_progress: bool = True) -> Embedded:
    """Decode and embed every usable item; ``items`` is consumed once."""
    from medsearch.imaging import load_image

    from indexer.progress import progress_display

    items = list(items)
    transform = encoder.image_transform() if images else None
    kept: list[Item] = []
    skipped: list[Skipped] = []
    image_chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []

    def flush():
        if pending:
            image_chunks.append(encoder.encode_image_batch(np.stack(pending)))
            pending.clear()

    with progress_display(show_progress, transient=True) as progress:
        task = progress.add_task("embedding", total=len(items))
        for item in items:
            try:
                if images:
                    pending.append(transform(load_image(item.image_path)))
                kept.append(item)
            except BadItem as exc:
                skipped.append(Skipped(item.key, str(exc), stage="decode"))
            if len(pending) >= batch_size:
                flush()
            progress.advance(task)
        flush()
    image_vectors = np.concatenate(image_chunks) if image_chunks else (
        np.zeros((0, encoder.dim), np.float32) if images else None)
    text_vectors = None
    if texts:
        text_vectors = np.concatenate([
            encoder.encode_texts([item.text or "" for item in kept[i:i + batch_size]])
            for i in range(0, len(kept), batch_size)
        ]) if kept else np.zeros((0, encoder.dim), np.float32)
    return Embedded(kept, image_vectors, text_vectors, skipped)

