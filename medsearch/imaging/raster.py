"""PNG / JPEG / other Pillow formats -> RGB 8-bit PIL image, with a pixel-count guard."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from medsearch.errors import ImageLoadError
from medsearch.imaging.limits import check_pixel_count

EXIF_ORIENTATION = 0x0112
NOT_AN_IMAGE = "not an image: neither DICOM nor a format Pillow can read"


class NotRasterImage(ImageLoadError):
    """Pillow does not recognise the bytes at all (the caller may still try DICOM without preamble)."""


def open_raster(source, where, limit: int | None = None) -> Image.Image:
    """Decode ``source`` (path or bytes) fully; any Pillow failure becomes ImageLoadError(where, reason)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(bytes(source)), where, limit)
    with open(source, "rb") as stream:  # closed here even for multi-frame files Pillow would keep open
        return _decode(stream, where, limit)


def _decode(stream, where, limit: int | None) -> Image.Image:
    with warnings.catch_warnings():
        # our own limit replaces Pillow's global one (which only warns below 2x its default)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(stream)
        except UnidentifiedImageError as exc:
            raise NotRasterImage(where, NOT_AN_IMAGE) from exc
        except Image.DecompressionBombError as exc:
            # Pillow's own hard stop (2x Image.MAX_IMAGE_PIXELS) fires inside open(), before our check
            raise ImageLoadError(where, f"image too large (possible decompression bomb): {exc}") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageLoadError(where, f"cannot read image header: {exc}") from exc
        check_pixel_count(where, img.width, img.height, 1, limit)
        try:
            img.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageLoadError(where, f"corrupt or truncated {img.format or 'raster'} image: {exc}") from exc
    if img.getexif().get(EXIF_ORIENTATION, 1) != 1:  # phone photos: show them upright
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
