"""PNG thumbnails of indexed files (DICOM included), rendered on demand and kept in a small LRU cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from medsearch.archives.paths import is_real_file
from medsearch.serve.errors import ApiError


class ThumbnailCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, item_id: int, image_path: str | None, size: int) -> bytes:
        key = (item_id, size)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        png = render(item_id, image_path, size)
        self._put(key, png)
        return png

    def _put(self, key, png: bytes) -> None:
        with self._lock:
            if key in self._entries or len(png) > self.max_bytes:
                return
            self._entries[key] = png
            self._bytes += len(png)
            while self._bytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self._bytes -= len(old)


def render(item_id: int, image_path: str | None, size: int) -> bytes:
    from medsearch.imaging import thumbnail

    if image_path is None:
        raise ApiError(404, "no_image", f"item {item_id} has no image")
    if not Path(image_path).exists():
        raise ApiError(404, "image_missing", f"the image file of item {item_id} is no longer on disk")
    if not is_real_file(image_path):  # indexed paths are real paths: a link here points outside the archive root
        raise ApiError(404, "image_refused", f"the image file of item {item_id} is a link, not a file under the "
                                             "archive root: not served")
    return thumbnail(Path(image_path), size=size)
