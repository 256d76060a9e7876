"""What the routes share: the open index (behind a lock), settings and the thumbnail cache."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from medsearch.serve.settings import ServeSettings
from medsearch.serve.thumbnails import ThumbnailCache


@dataclass
class Services:
    index: object
    settings: ServeSettings
    thumbnails: ThumbnailCache
    # The Index is not documented as thread-safe (a SQLite connection, a torch model), and FastAPI runs
    # sync routes on a thread pool: calls into it are serialised. Thumbnails render outside the lock.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, method: str, *args, **kwargs):
        with self.lock:
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
