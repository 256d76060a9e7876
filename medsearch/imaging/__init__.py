"""Image loading for medsearch: PNG/JPEG (Pillow) and DICOM (pydicom + pylibjpeg) -> 8-bit RGB PIL images.

Every failure raises ``medsearch.errors.ImageLoadError(path, reason)``. Modules: ``load`` (entry points),
``raster`` (Pillow), ``dicom`` (rendering), ``metadata`` (safe tags), ``thumbnails``, ``limits`` (bomb guard),
``detect`` (DICOM by content), ``display`` (to 8-bit).
"""

from __future__ import annotations

from medsearch.imaging.limits import (DEFAULT_MAX_DECODED_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE,
                                      MAX_DECODED_BYTES_ENV, MAX_PIXELS_ENV, DecodeLimits, max_decoded_bytes,
                                      max_pixels)
from medsearch.imaging.load import load_image, load_image_bytes
from medsearch.imaging.metadata import dicom_metadata, image_modality_hint
from medsearch.imaging.thumbnails import thumbnail, thumbnail_of

__all__ = [
    "load_image", "load_image_bytes", "dicom_metadata", "image_modality_hint", "thumbnail", "thumbnail_of",
    "max_pixels", "DEFAULT_MAX_PIXELS", "MAX_PIXELS_ENV", "max_decoded_bytes", "DEFAULT_MAX_DECODED_BYTES",
    "MAX_DECODED_BYTES_ENV", "DEFAULT_MAX_SIDE", "DecodeLimits",
]
