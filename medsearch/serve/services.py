"""What the routes share: the open index (its encoder behind a lock), settings (read from here only, never from
``app.state``), the thumbnail cache, the k check and the images of exported files."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from fastapi import Request

from medsearch.errors import BadItem
from medsearch.serve.decoding import DecodeSlots
from medsearch.serve.errors import ApiError
from medsearch.serve.settings import ServeSettings
from medsearch.serve.thumbnails import ThumbnailCache

if TYPE_CHECKING:
    from medsearch.index_dir import IndexManifest


class IndexLike(Protocol):
    """What the server asks of an index: ``medsearch.search.Index`` (the teaching routes hand the index to
    ``medsearch.teaching``, which uses the rest of ``Index``). Tests serve a real ``Index`` too."""

    manifest: IndexManifest

    def search_text(self, query: str, k: int = 10, target: str = "image", **options) -> list: ...

    def search_image(self, image, k: int = 10, target: str = "text", filters=None) -> list: ...

    def search_similar(self, item_id: int, k: int = 10, target: str = "image", filters=None) -> list: ...

    def embed_image(self, image): ...

    def item(self, item_id: int): ...

    def info(self) -> dict: ...

    @property
    def store(self): ...  # medsearch.store.Store: facets() for the filter notices

    def close(self) -> None: ...


@dataclass
class Services:
    index: IndexLike
    settings: ServeSettings
    thumbnails: ThumbnailCache
    # FastAPI runs sync routes on a thread pool. Queries that run the encoder take turns (``encoding``): the model
    # already uses every core, and parallel forward passes only add contention. Metadata reads (item, info, stored
    # vectors, "more like this") don't wait behind them: the store opens a session per call and faiss searches
    # are read-only.
    lock: threading.Lock = field(default_factory=threading.Lock)
    decoder: DecodeSlots | None = None  # uploads decode through this (bounded concurrency and size)

    def __post_init__(self):
        if self.decoder is None:
            self.decoder = DecodeSlots(self.settings)

    def encoding(self, function: Callable[..., Any], *args, **kwargs):
        """``function(*args, **kwargs)`` in its turn with the other queries that run the encoder."""
        with self.lock:
            return function(*args, **kwargs)

    def checked_k(self, k: int) -> int:
        """``k`` when it lies within the server's limit (``max_k``); a 422 otherwise."""
        limit = self.settings.max_k
        if not 1 <= k <= limit:
            raise ApiError(422, "invalid_request", f"k must be between 1 and {limit}")
        return k

    def filter_notices(self, filters, results) -> list[str]:
        """Why a filtered search found nothing, when a filter value is why: one line per value no item of the index
        has, naming those it has (``Filters.absent_notices``). Empty when something was found or nothing filtered."""
        if results or filters is None:
            return []
        return filters.absent_notices(self.index.store.facets())

    def export_image(self, record) -> bytes | None:
        """The PNG an exported teaching file embeds for ``record`` (``export_image_size``); None when it has no
        image or its file is gone since indexing (the figure keeps its caption, without image)."""
        if record.image_path is None:
            return None
        try:
            return self.thumbnails.get(record.item_id, record.image_path, self.settings.export_image_size)
        except (ApiError, BadItem):
            return None


def warm_up(index: IndexLike) -> None:
    """Load both towers of the model, the ANN index and the store now (all load lazily), so that the first
    visitor doesn't wait for them. An index with nothing in it yet (a first `medsearch index` that found no
    item) is served too: a running server sees the items a later run adds."""
    from PIL import Image

    modalities = list(index.manifest.modalities)
    if modalities:
        index.search_text("chest radiograph", k=1, target=modalities[0])
    index.embed_image(Image.new("RGB", (64, 64)))


def get_services(request: Request) -> Services:
    return request.app.state.services
