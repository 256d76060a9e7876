"""One entry point for any image file or upload: DICOM by content, else Pillow."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from medsearch.errors import ImageLoadError
from medsearch.imaging import detect
from medsearch.imaging.dicom import read_dataset, render_dataset
from medsearch.imaging.limits import DEFAULT_MAX_SIDE, DecodeLimits
from medsearch.imaging.raster import NotRasterImage, open_raster


def load_image(path, max_pixels: int | None = None, max_bytes: int | None = None,
               max_side: int | None = DEFAULT_MAX_SIDE) -> Image.Image:
    """Load a PNG/JPEG/... or DICOM file as an 8-bit RGB image; every failure is ImageLoadError(path, reason).
    Limits (see medsearch.imaging.limits): ``max_pixels`` and ``max_bytes`` refuse a bomb before decoding
    (ImageTooLarge); an image with a side over ``max_side`` comes back reduced (None: full size)."""
    path = Path(path)
    try:
        head = detect.read_head(path)
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise ImageLoadError(path, "is a directory, not an image file") from exc
    except OSError as exc:
        raise ImageLoadError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return _load(head, path, path, DecodeLimits(max_pixels, max_bytes, max_side))


def load_image_bytes(data: bytes, name: str = "upload", max_pixels: int | None = None,
                     max_bytes: int | None = None, max_side: int | None = DEFAULT_MAX_SIDE) -> Image.Image:
    """Same rules as load_image, from memory (uploads); nothing is written to disk."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageLoadError(name, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    return _load(data[: detect.HEADER_BYTES], data, name, DecodeLimits(max_pixels, max_bytes, max_side))


def _load(head: bytes, source, where, limits: DecodeLimits) -> Image.Image:
    if not head:
        raise ImageLoadError(where, "empty file")
    if detect.has_dicom_preamble(head):
        return render_dataset(read_dataset(source, where, max_bytes=limits.max_bytes), where, limits)
    try:
        return open_raster(source, where, limits)
    except NotRasterImage:
        if not detect.may_be_bare_dicom(head):
            raise
    # old ACR-NEMA files and bare datasets have no preamble: parse by force and check it is an image
    return render_dataset(read_dataset(source, where, force=True), where, limits)
