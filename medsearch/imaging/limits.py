"""Decompression-bomb guard: what we agree to decode, checked from the header BEFORE any pixel is decoded.

Three limits, each with an explicit override, an environment variable and a default:

* pixels (all frames counted): ``$MEDSEARCH_MAX_PIXELS``, default 100 Mpx (a 10k x 10k scan);
* decoded bytes (width x height x frames x samples x bytes per sample as held in memory; for a deflated DICOM,
  the inflated dataset): ``$MEDSEARCH_MAX_DECODED_BYTES``, default 512 MiB;
* working side: images whose longest side exceeds it are decoded reduced (JPEG: Pillow's DCT scaling via
  ``draft``; PNG and DICOM: downsampled right after decoding, before any colour or float conversion), so that
  what follows (conversion to RGB, windowing, the encoder's resize) works on at most ``max_side`` pixels a side.
  Default 4096; the encoders see 224-384 px and thumbnails at most 1024 px.

Every refusal is ``medsearch.errors.ImageTooLarge`` (an ImageLoadError; the server answers 413).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

from medsearch.errors import ImageTooLarge

MAX_PIXELS_ENV = "MEDSEARCH_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 Mpx: a 10k x 10k scan; far beyond any radiograph or CT slice
MAX_DECODED_BYTES_ENV = "MEDSEARCH_MAX_DECODED_BYTES"
MIB = 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 512 * MIB
DEFAULT_MAX_SIDE = 4096
INFLATE_CHUNK = 4 * MIB
HEADER_SLACK = 16 * MIB  # a deflated dataset may inflate to its pixel bytes plus this much of other elements


def max_pixels(override: int | None = None) -> int:
    """The limit in force: the explicit override, else $MEDSEARCH_MAX_PIXELS, else 100 Mpx."""
    if override is not None:
        return int(override)
    raw = os.environ.get(MAX_PIXELS_ENV)
    return int(raw) if raw else DEFAULT_MAX_PIXELS


def max_decoded_bytes(override: int | None = None) -> int:
    """The limit in force: the explicit override, else $MEDSEARCH_MAX_DECODED_BYTES, else 512 MiB."""
    if override is not None:
        return int(override)
    raw = os.environ.get(MAX_DECODED_BYTES_ENV)
    return int(raw) if raw else DEFAULT_MAX_DECODED_BYTES


@dataclass(frozen=True)
class DecodeLimits:
    """The limits one decode runs under; ``None`` pixel/byte limits mean the environment or the default."""

    max_pixels: int | None = None
    max_bytes: int | None = None
    max_side: int | None = DEFAULT_MAX_SIDE  # None: never reduce

    def pixels(self) -> int:
        return max_pixels(self.max_pixels)

    def bytes(self) -> int:
        return max_decoded_bytes(self.max_bytes)


def _mib(n: int) -> str:
    return f"{n / MIB:,.0f} MiB" if n >= MIB else f"{n:,} bytes"


def check_pixel_count(where, width: int, height: int, frames: int = 1, limit: int | None = None) -> None:
    """Raise ImageTooLarge before decoding when the declared size exceeds the limit."""
    limit = max_pixels(limit)
    total = int(width) * int(height) * max(int(frames), 1)
    if total > limit:
        raise ImageTooLarge(
            where,
            f"image too large: {width}x{height}"
            + (f"x{frames} frames" if frames > 1 else "")
            + f" = {total:,} pixels exceeds the limit of {limit:,} (possible decompression bomb; "
            f"raise ${MAX_PIXELS_ENV} if the file is genuine)",
        )


def check_decoded_bytes(where, width: int, height: int, frames: int = 1, bytes_per_pixel: float = 1,
                        limit: int | None = None) -> int:
    """Bytes the decoded pixels would take (every frame, every sample); ImageTooLarge past the limit.
    DICOM: ``bytes_per_pixel`` = samples per pixel x BitsAllocated / 8."""
    limit = max_decoded_bytes(limit)
    total = int(int(width) * int(height) * max(int(frames), 1) * bytes_per_pixel)
    if total > limit:
        shape = f"{width}x{height}" + (f"x{frames} frames" if frames > 1 else "")
        raise ImageTooLarge(
            where,
            f"image too large: {shape} at {bytes_per_pixel:g} bytes per pixel = {_mib(total)} decoded exceeds the "
            f"limit of {_mib(limit)} (possible decompression bomb; raise ${MAX_DECODED_BYTES_ENV} if the file "
            "is genuine)",
        )
    return total


def inflate_bounded(data: bytes, where, limit: int | None = None, wbits: int = -zlib.MAX_WBITS) -> bytes:
    """Raw-deflate ``data`` but never hold more than ``limit`` (+ header slack) inflated bytes: a bomb is
    refused after inflating at most that much, not after filling memory."""
    cap = max_decoded_bytes(limit) + HEADER_SLACK
    inflater = zlib.decompressobj(wbits)
    parts, size, pending = [], 0, data
    while True:
        chunk = inflater.decompress(pending, INFLATE_CHUNK)
        size += len(chunk)
        if size > cap:
            raise ImageTooLarge(
                where,
                f"image too large: the deflated DICOM dataset inflates to more than {_mib(cap)} "
                f"(possible decompression bomb; raise ${MAX_DECODED_BYTES_ENV} if the file is genuine)",
            )
        parts.append(chunk)
        pending = inflater.unconsumed_tail
        if inflater.eof or (not pending and not chunk):
            break
    return b"".join(parts)


def reduction_factor(width: int, height: int, max_side: int | None) -> int:
    """The integer factor that brings the longest side to at most ``max_side`` (1: no reduction)."""
    if not max_side or max(width, height) <= max_side:
        return 1
    return -(-max(width, height) // int(max_side))
