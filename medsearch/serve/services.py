"""What the routes share: the open index (behind a lock), settings and the thumbnail cache."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from medsearch.serve.decoding import DecodeSlots
from medsearch.serve.settings import ServeSettings
from medsearch.serve.thumbnails import ThumbnailCache


ENCODING_METHODS = frozenset({"search_text", "search_image"})


@dataclass
class Services:
    index: object
    settings: ServeSettings
    thumbnails: ThumbnailCache
    # FastAPI runs sync routes on a thread pool. Queries that run the encoder take turns: the model already
    # uses every core, and parallel forward passes only add contention. Metadata reads (item, info, stored
    # vectors) don't wait behind them: the store opens a session per call and faiss searches are read-only.
    lock: threading.Lock = field(default_factory=threading.Lock)
    decoder: DecodeSlots | None = None  # uploads decode through this (bounded concurrency and size)

    def __post_init__(self):
        if self.decoder is None:
            self.decoder = DecodeSlots(self.settings)

    def call(self, method: str, *args, **kwargs):
        if method in ENCODING_METHODS:
            with self.lock:
                return getattr(self.index, method)(*args, **kwargs)
        return getattr(self.index, method)(*args, **kwargs)


def warm_up(index) -> None:
    """Load both towers of the model, the ANN index and the store now (all load lazily), so that the first
    visitor doesn't wait for them."""
    modalities = getattr(getattr(index, "manifest", None), "modalities", None) or {"image": None}
    index.search_text("chest radiograph", k=1, target=next(iter(modalities)))
    if hasattr(index, "embed_image"):
        from PIL import Image

        index.embed_image(Image.new("RGB", (64, 64)))


def get_services(request: Request) -> Services:
    return request.app.state.services
