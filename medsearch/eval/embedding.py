"""Embed an archive's items in memory (no index): images through the encoder's transform and batch encoder,
texts through ``encode_texts``. Images that fail to decode are recorded as Skipped and left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from medsearch.archives.item import Item, Skipped


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
    """Decode and embed every usable item through the indexer's loop (``medsearch.models.embed_loop``);
    ``items`` is consumed once."""
    from medsearch.models.embed_loop import embed_batches
    from medsearch.progress import progress_display

    items = list(items)
    kept: list[Item] = []
    skipped: list[Skipped] = []
    image_rows: list[np.ndarray] = []
    text_rows: list[np.ndarray] = []
    paths = [item.image_path if images else None for item in items]
    captions = [(item.text or "") if texts else None for item in items]
    with progress_display(show_progress, transient=True) as progress:
        task = progress.add_task("embedding", total=len(items))
        for batch in embed_batches(encoder, paths, captions, batch_size, full_batches=True):
            for position, image, text in batch.kept:
                kept.append(items[position])
                image_rows += [image] if images else []
                text_rows += [text] if texts else []
            skipped += [Skipped(items[d.position].key, d.message, stage="decode") for d in batch.failed]
            progress.advance(task, len(batch.kept) + len(batch.failed))
    return Embedded(kept, _rows(image_rows, encoder) if images else None, _rows(text_rows, encoder) if texts else None,
                    skipped)


def _rows(vectors: list[np.ndarray], encoder) -> np.ndarray:
    return np.stack(vectors) if vectors else np.zeros((0, encoder.dim), np.float32)

