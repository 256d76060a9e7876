"""PNG / JPEG / other Pillow formats -> RGB 8-bit PIL image, with pixel and decoded-byte guards checked on the
header and large images decoded reduced (JPEG through ``draft``, others downsampled before conversion)."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from medsearch.errors import ImageLoadError, ImageTooLarge
from medsearch.imaging.limits import DecodeLimits, check_decoded_bytes, check_pixel_count, reduction_factor

EXIF_ORIENTATION = 0x0112
NOT_AN_IMAGE = "not an image: neither DICOM nor a format Pillow can read"


class NotRasterImage(ImageLoadError):
    """Pillow does not recognise the bytes at all (the caller may still try DICOM without preamble)."""


# bytes per pixel as Pillow holds a decoded image in memory (multi-band modes take 4 bytes per pixel)
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "I": 4, "F": 4}
_NO_REDUCE_MODES = ("1", "P", "I;16", "I;16B", "I;16L", "I;16N")  # Image.reduce refuses them: nearest resize


def open_raster(source, where, limits: DecodeLimits | int | None = None) -> Image.Image:
    """Decode ``source`` (path or bytes); any Pillow failure becomes ImageLoadError(where, reason).
    ``limits``: a DecodeLimits, or a plain pixel limit (the older signature)."""
    if not isinstance(limits, DecodeLimits):
        limits = DecodeLimits(max_pixels=limits)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(bytes(source)), where, limits)
    with open(source, "rb") as stream:  # closed here even for multi-frame files Pillow would keep open
        return _decode(stream, where, limits)


def bytes_per_pixel(mode: str) -> int:
    return _BYTES_PER_PIXEL.get(mode, 4)


def _draft_reduced(img: Image.Image, max_side: int | None) -> None:
    """JPEG: let the decoder scale by 1/2, 1/4 or 1/8 (DCT scaling) so that it never builds the full raster."""
    factor = reduction_factor(img.width, img.height, max_side)
    if factor > 1 and img.format == "JPEG":
        img.draft(img.mode, (-(-img.width // factor), -(-img.height // factor)))


def _reduce(img: Image.Image, max_side: int | None) -> Image.Image:
    factor = reduction_factor(img.width, img.height, max_side)
    if factor == 1:
        return img
    if img.mode in _NO_REDUCE_MODES:
        return img.resize((max(img.width // factor, 1), max(img.height // factor, 1)), Image.Resampling.NEAREST)
    return img.reduce(factor)


def _decode(stream, where, limits: DecodeLimits) -> Image.Image:
    with warnings.catch_warnings():
        # our own limit replaces Pillow's global one (which only warns below 2x its default)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(stream)
        except UnidentifiedImageError as exc:
            raise NotRasterImage(where, NOT_AN_IMAGE) from exc
        except Image.DecompressionBombError as exc:
            # Pillow's own hard stop (2x Image.MAX_IMAGE_PIXELS) fires inside open(), before our check
            raise ImageTooLarge(where, f"image too large (possible decompression bomb): {exc}") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageLoadError(where, f"cannot read image header: {exc}") from exc
        _draft_reduced(img, limits.max_side)  # JPEG: from here on img.size is the reduced size it decodes to
        check_pixel_count(where, img.width, img.height, 1, limits.pixels())
        check_decoded_bytes(where, img.width, img.height, 1, bytes_per_pixel(img.mode), limits.bytes())
        try:
            img.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageLoadError(where, f"corrupt or truncated {img.format or 'raster'} image: {exc}") from exc
        img = _reduce(img, limits.max_side)  # before any conversion, which would copy the full raster
    if img.getexif().get(EXIF_ORIENTATION, 1) != 1:  # phone photos: show them upright (reduce keeps the EXIF)
        img = ImageOps.exif_transpose(img)
    return to_rgb8(img)


def to_rgb8(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; 16-bit greyscale is scaled by its own range, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        from medsearch.imaging.display import to_uint8

        return Image.fromarray(to_uint8(np.asarray(img))).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        background = Image.new("RGB", img.size, (255, 255, 255))
        rgba = img.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB") if img.mode != "RGB" else img
