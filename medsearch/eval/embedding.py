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


def progress_bar():
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} items/s"), TimeElapsedColumn(), TimeRemainingColumn(),
                    transient=True)


def embed_items(items: Iterable[Item], encoder, batch_size: int = 64, images: bool = True, texts: bool = True,
                show_progress: bool = True) -> Embedded:
    """Decode and embed every usable item; ``items`` is consumed once."""
    from medsearch.imaging import load_image

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

    with _maybe_progress(show_progress, len(items)) as (progress, task):
        for done, item in enumerate(items, 1):
            if images:
                try:
                    pending.append(transform(load_image(item.image_path)))
                except BadItem as exc:
                    skipped.append(Skipped(item.key, str(exc), stage="decode"))
                    continue
                if len(pending) >= batch_size:
                    flush()
            kept.append(item)
            if progress is not None:
                elapsed = progress.tasks[task].elapsed or 1e-9
                progress.update(task, completed=done, rate=f"{done / elapsed:.1f}")
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


class _maybe_progress:
    def __init__(self, show: bool, total: int):
        self.show, self.total = show, total
        self.progress = None

    def __enter__(self):
        if not self.show:
            return None, None
        self.progress = progress_bar()
        self.progress.__enter__()
        task = self.progress.add_task("embedding", total=self.total, rate="-")
        return self.progress, task

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
