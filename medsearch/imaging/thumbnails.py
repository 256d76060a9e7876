"""Small PNG previews for the web page (DICOM rendered the same way as for embedding)."""

from __future__ import annotations

import io

from PIL import Image

from medsearch.imaging.load import load_image


def thumbnail(path, size: int = 256) -> bytes:
    """PNG bytes of the image scaled to fit a size x size box (aspect kept, never enlarged)."""
    return thumbnail_of(load_image(path), size)


def thumbnail_of(image: Image.Image, size: int = 256) -> bytes:
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
