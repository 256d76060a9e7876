"""An image query's input (a path, bytes or a PIL image) as the RGB image the encoder takes."""

from __future__ import annotations

from pathlib import Path

from medsearch.errors import BadQuery


def to_pil(image):
    """A path (PNG/JPEG/DICOM), raw bytes or a PIL image -> RGB PIL image."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    from medsearch import imaging

    if isinstance(image, (bytes, bytearray, memoryview)):
        return imaging.load_image_bytes(bytes(image))
    if isinstance(image, (str, Path)):
        return imaging.load_image(Path(image))
    raise BadQuery(f"cannot search with an image of type {type(image).__name__}", hint="give a path, bytes or a PIL image")
