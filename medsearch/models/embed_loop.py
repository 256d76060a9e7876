"""The one batch-embedding loop: decode images (in DataLoader workers when asked), batch, run the encoder.

The indexer (``indexer/embed.py``) and the benches (``medsearch/eval/embedding.py``) embed through
``embed_batches``; the training's feature cache (``medsearch/train/features.py``) decodes through
``decode_batches`` and runs its own tower parts. A batch is ``batch_size`` consecutive inputs. A decode failure
comes back as a record (``Decoded.error``), never an exception, so one corrupt image is skipped and the run goes on.
Imports torch only to start decode workers and to run the encoder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from medsearch.errors import BadItem


@dataclass
class Decoded:
    position: int
    array: np.ndarray | None  # None: no image path, or it failed
    error: str | None  # why it failed (the reason, without the path)
    seconds: float
    message: str | None = None  # the failure as the exception words it (path and reason)


class DecodeDataset:
    """Image path (or None) -> Decoded; a map-style dataset for DataLoader workers (picklable)."""

    def __init__(self, paths: Sequence, transform):
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> Decoded:
        from medsearch.imaging import load_image

        path = self.paths[position]
        if path is None:
            return Decoded(position, None, None, 0.0)
        start = time.perf_counter()
        try:
            array = np.asarray(self.transform(load_image(path)), dtype=np.float32)
        except BadItem as exc:
            return Decoded(position, None, getattr(exc, "reason", str(exc)), time.perf_counter() - start, str(exc))
        return Decoded(position, array, None, time.perf_counter() - start)


def keep_list(batch: list[Decoded]) -> list[Decoded]:
    return batch


def one_thread_per_worker(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)  # workers decode; letting each also spawn BLAS threads oversubscribes the CPU


def decode_batches(paths: Sequence, transform, batch_size: int, workers: int = 0) -> Iterator[list[Decoded]]:
    """Lists of ``batch_size`` consecutive Decoded (the last one shorter), decoded in ``workers`` DataLoader
    processes, or in this one when 0."""
    dataset = DecodeDataset(paths, transform)
    if not workers:
        for start in range(0, len(dataset), batch_size):
            yield [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        return
    from torch.utils.data import DataLoader

    yield from DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=keep_list,
                          worker_init_fn=one_thread_per_worker, prefetch_factor=4)


@dataclass
class BatchTimings:
    """Where one batch's time went; the indexer's timer adds them up per stage (every engine reports these)."""

    decode_wait_s: float = 0.0  # this process blocked on decoding
    decode_worker_s: float = 0.0  # decode + transform time summed over the inputs
    embed_s: float = 0.0


@dataclass
class EncodedBatch:
    """One batch: the vectors of the inputs kept (in input order), the inputs whose image failed, timings.
    Inputs are named by position; the indexer maps them to its items (``indexer.embed.EmbeddedBatch``)."""

    kept: list[tuple[int, np.ndarray | None, np.ndarray | None]] = field(default_factory=list)  # position, image, text
    failed: list[Decoded] = field(default_factory=list)
    timings: BatchTimings = field(default_factory=BatchTimings)


def encode_device(encoder, device: str | None = None) -> str:
    """Where autocast applies: the device asked for, else where the encoder's weights are, else "auto"."""
    from medsearch.models.device import resolve_device

    chosen = device if device not in (None, "auto") else getattr(encoder, "device", None)
    return resolve_device(chosen or "auto")


def refilled(batches: Iterator[list[Decoded]], batch_size: int) -> Iterator[list[Decoded]]:
    """The decoded stream re-cut so that every list holds ``batch_size`` inputs that did not fail (the last one
    fewer); a failure travels with the inputs decoded after it."""
    waiting: list[Decoded] = []
    for decoded in batches:
        waiting += decoded
        while sum(d.error is None for d in waiting) >= batch_size:
            ok = [i for i, d in enumerate(waiting) if d.error is None]
            cut = ok[batch_size - 1] + 1
            yield waiting[:cut]
            waiting = waiting[cut:]
    if waiting:
        yield waiting


def embed_batches(encoder, image_paths: Sequence, texts: Sequence[str | None], batch_size: int, workers: int = 0,
                  device: str | None = None, full_batches: bool = False) -> Iterator[EncodedBatch]:
    """Input i is (``image_paths[i]``, ``texts[i]``); either may be None (then that vector is None). Per batch,
    the decoded images go through ``encode_image_batch`` and the texts of the inputs kept through
    ``encode_texts``, one call each: under torch's inference mode and autocast for ``device`` when one is
    given (the indexer), as the encoder runs itself when None (the benches: an ONNX encoder never imports torch).

    A batch is ``batch_size`` consecutive inputs (the indexer's), or with ``full_batches`` ``batch_size`` inputs
    kept (the benches'): which texts share an encoder call changes the last bit of a text vector (padding), so
    each caller keeps the grouping its stored and published vectors were made with."""
    transform = encoder.image_transform() if any(path is not None for path in image_paths) else None
    batches = decode_batches(image_paths, transform, batch_size, workers)
    if full_batches:
        batches = refilled(batches, batch_size)
    while True:
        start = time.perf_counter()
        decoded = next(batches, None)
        if decoded is None:
            return
        batch = EncodedBatch(timings=BatchTimings(decode_wait_s=time.perf_counter() - start,
                                                  decode_worker_s=sum(d.seconds for d in decoded)))
        kept = [d for d in decoded if d.error is None]
        batch.failed = [d for d in decoded if d.error is not None]
        start = time.perf_counter()
        images = _encode(encoder.encode_image_batch, [d.array for d in kept if d.array is not None], encoder,
                         device, np.stack)
        captions = _encode(encoder.encode_texts, [texts[d.position] for d in kept if texts[d.position] is not None],
                           encoder, device, list)
        batch.timings.embed_s = time.perf_counter() - start
        image_rows, text_rows = iter(images), iter(captions)
        for d in kept:
            image = next(image_rows) if d.array is not None else None
            text = next(text_rows) if texts[d.position] is not None else None
            batch.kept.append((d.position, image, text))
        yield batch


def _encode(encode, inputs: list, encoder, device: str | None, collate) -> np.ndarray:
    if not inputs:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    if device is None:
        return np.asarray(encode(collate(inputs)), dtype=np.float32)
    import torch

    from medsearch.models.device import autocast

    with torch.inference_mode(), autocast(device):
        return np.asarray(encode(collate(inputs)), dtype=np.float32)
