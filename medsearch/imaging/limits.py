"""Decompression-bomb guard: the largest image (in pixels, all frames counted) we agree to decode."""

from __future__ import annotations

import os

from medsearch.errors import ImageLoadError

MAX_PIXELS_ENV = "MEDSEARCH_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 Mpx: a 10k x 10k scan; far beyond any radiograph or CT slice


def max_pixels(override: int | None = None) -> int:
    """The limit in force: the explicit override, else $MEDSEARCH_MAX_PIXELS, else 100 Mpx."""
    if override is not None:
        return int(override)
    raw = os.environ.get(MAX_PIXELS_ENV)
    return int(raw) if raw else DEFAULT_MAX_PIXELS


def check_pixel_count(where, width: int, height: int, frames: int = 1, limit: int | None = None) -> None:
    """Raise ImageLoadError before decoding when the declared size exceeds the limit."""
    limit = max_pixels(limit)
    total = int(width) * int(height) * max(int(frames), 1)
    if total > limit:
        raise ImageLoadError(
            where,
            f"image too large: {width}x{height}"
            + (f"x{frames} frames" if frames > 1 else "")
            + f" = {total:,} pixels exceeds the limit of {limit:,} (possible decompression bomb; "
            f"raise ${MAX_PIXELS_ENV} if the file is genuine)",
        )
