"""DICOM -> RGB 8-bit PIL image: modality LUT, VOI LUT / window, MONOCHROME1, middle frame, colour.

Bomb guards: a deflated dataset is inflated with a bound (never pydicom's unbounded ``zlib.decompress``); the
declared pixels and decoded bytes (rows x columns x frames x samples x bits) are checked before decoding; a frame
larger than the working side is downsampled right after decoding, before the float LUT and windowing steps."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
from PIL import Image
from pydicom.errors import BytesLengthException

from medsearch.errors import ImageLoadError
from medsearch.imaging.display import to_uint8
from medsearch.imaging.limits import (DecodeLimits, check_decoded_bytes, check_pixel_count, inflate_bounded,
                                      reduction_factor)

# pydicom and its decoder plugins raise a mix of builtin exceptions for undecodable pixel data
# (missing plugin -> RuntimeError, bad stream -> ValueError, no file meta -> AttributeError ...).
DECODE_ERRORS = (RuntimeError, ValueError, NotImplementedError, AttributeError, KeyError, TypeError, EOFError, OSError)
# a damaged header fails while parsing or, for values pydicom converts lazily, on first access
CORRUPT_HEADER_ERRORS = (
    EOFError, OSError, ValueError, KeyError, TypeError, IndexError, OverflowError, NotImplementedError, struct.error,
    BytesLengthException,
)
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


DEFLATED_UID = b"1.2.840.10008.1.2.1.99"
META_PROBE_BYTES = 16 * 1024  # the file meta group (where the transfer syntax is) sits in the first few hundred bytes


def read_dataset(source, where, stop_before_pixels: bool = False, force: bool = False,
                 max_bytes: int | None = None):
    """Parse a DICOM file (path or bytes). ``force`` accepts streams with no preamble (ACR-NEMA).
    A deflated dataset is inflated to at most ``max_bytes`` (default: the decoded-bytes limit) + header slack."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    stream = io.BytesIO(bytes(source)) if is_bytes else source
    try:
        with warnings.catch_warnings():
            if force:  # a forced parse of a non-DICOM stream warns on every element; the outcome is checked below
                warnings.simplefilter("ignore", UserWarning)
            ds = None if force else _read_if_deflated(source, is_bytes, where, stop_before_pixels, max_bytes)
            if ds is None:
                ds = pydicom.dcmread(stream, stop_before_pixels=stop_before_pixels, force=force)
    except InvalidDicomError as exc:
        raise ImageLoadError(where, f"not a DICOM file: {exc}") from exc
    except (*CORRUPT_HEADER_ERRORS, zlib.error) as exc:
        raise ImageLoadError(where, f"corrupt or truncated DICOM file: {type(exc).__name__}: {_one_line(exc)}") from exc
    if force and not _looks_like_image_dataset(ds) and not stop_before_pixels:
        raise ImageLoadError(where, "not an image: neither DICOM nor a format Pillow can read "
                                    "(no DICOM preamble and no image elements after forced parsing)")
    return ds


def _read_if_deflated(source, is_bytes: bool, where, stop_before_pixels: bool, max_bytes: int | None):
    """A Deflated Explicit VR Little Endian file, parsed from a bounded inflate; None for any other syntax."""
    from pydicom.dataset import FileDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import _read_file_meta_info, read_dataset as parse_dataset, read_preamble
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    if is_bytes:
        data = bytes(source)
        probe = data[:META_PROBE_BYTES]
    else:
        with open(source, "rb") as f:
            probe = f.read(META_PROBE_BYTES)
        data = None
    if DEFLATED_UID not in probe:
        return None
    if data is None:
        with open(source, "rb") as f:
            data = f.read()
    fp = DicomBytesIO(data)
    preamble = read_preamble(fp, False)
    meta = _read_file_meta_info(fp)
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return None
    body = DicomBytesIO(inflate_bounded(data[fp.tell():], where, max_bytes))
    del data
    stop_when = _at_pixel_data if stop_before_pixels else None
    ds = parse_dataset(body, is_implicit_VR=False, is_little_endian=True, stop_when=stop_when)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian  # once inflated, the pixel data is native
    return FileDataset(str(where), ds, preamble=preamble, file_meta=meta, is_implicit_VR=False,
                       is_little_endian=True)


def _at_pixel_data(tag, vr, length) -> bool:
    return int(tag) in (0x7FE00010, 0x7FE00009, 0x7FE00008)


def _looks_like_image_dataset(ds) -> bool:
    return any(k in ds for k in ("Rows", "Columns", "SOPClassUID", "Modality", *_PIXEL_KEYWORDS))


def render_dataset(ds, where, limits: DecodeLimits | int | None = None) -> Image.Image:
    """Decode the representative frame of ``ds`` and map it to an 8-bit RGB image for display.
    ``limits``: a DecodeLimits, or a plain pixel limit (the older signature)."""
    if not isinstance(limits, DecodeLimits):
        limits = DecodeLimits(max_pixels=limits)
    try:
        return _render(ds, where, limits)
    except CORRUPT_HEADER_ERRORS as exc:
        raise ImageLoadError(where, f"corrupt DICOM header value: {type(exc).__name__}: {_one_line(exc)}") from exc


def _render(ds, where, limits: DecodeLimits) -> Image.Image:
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        raise ImageLoadError(where, "DICOM has no pixel data (no PixelData element)")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise ImageLoadError(where, f"DICOM has pixel data but no valid Rows/Columns ({rows}x{cols})")
    frames = _frame_count(ds)
    check_pixel_count(where, cols, rows, frames, limits.pixels())
    samples = max(int(ds.get("SamplesPerPixel", 1) or 1), 1)
    bits = max(int(ds.get("BitsAllocated", 8) or 8), 1)
    check_decoded_bytes(where, cols, rows, frames, samples * ((bits + 7) // 8), limits.bytes())
    _assume_transfer_syntax_if_missing(ds)
    index = frames // 2 if frames > 1 else None
    arr, photometric = _decode(ds, where, index)
    step = reduction_factor(cols, rows, limits.max_side)
    if step > 1:  # a very large frame: downsample before the float LUT / windowing copies
        arr = np.ascontiguousarray(arr[::step, ::step])
    if int(ds.get("SamplesPerPixel", 1) or 1) > 1 or arr.ndim == 3:
        return Image.fromarray(_colour_to_rgb8(arr, ds, photometric), "RGB")
    if photometric == "PALETTE COLOR":
        return Image.fromarray(_palette_to_rgb8(arr, ds), "RGB")
    return Image.fromarray(_grey_to_uint8(arr, ds, photometric), "L").convert("RGB")


def _frame_count(ds) -> int:
    raw = ds.get("NumberOfFrames", 1)
    try:
        return max(int(raw or 1), 1)
    except (TypeError, ValueError):
        return 1


def _assume_transfer_syntax_if_missing(ds) -> None:
    """ACR-NEMA files have no file meta: take the encoding the parser actually found."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = True, True
    uid = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = uid


def _decode(ds, where, index: int | None) -> tuple[np.ndarray, str]:
    """One frame (or the only one) and the photometric interpretation it came out in (YBR may become RGB)."""
    from pydicom.pixels import get_decoder
    from pydicom.pixels.utils import as_pixel_options

    ts = ds.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(ts)
    except NotImplementedError as exc:
        raise ImageLoadError(where, f"unsupported DICOM transfer syntax: {ts.name} ({ts})") from exc
    try:
        arr, meta = decoder.as_array(ds, index=index, validate=True, **as_pixel_options(ds))
    except DECODE_ERRORS as exc:
        raise ImageLoadError(where, f"cannot decode DICOM pixel data ({ts.name}): {_one_line(exc)}") from exc
    except BaseException as exc:
        # Rust decoders (pylibjpeg-rle) panic on malformed streams: pyo3's PanicException is a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise ImageLoadError(where, f"cannot decode DICOM pixel data ({ts.name}): decoder crashed: {_one_line(exc)}") from exc
    photometric = str(meta.get("photometric_interpretation", ds.get("PhotometricInterpretation", ""))).strip()
    return arr, photometric.upper()


def _one_line(exc: Exception) -> str:
    """pydicom lists missing plugins on tab-indented lines; keep them all, on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0] + (" " + "; ".join(lines[1:]) if len(lines) > 1 else "")


def _grey_to_uint8(arr: np.ndarray, ds, photometric: str) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut

    has_rescale = "ModalityLUTSequence" in ds or _has_linear_rescale(ds)
    values = apply_modality_lut(arr, ds) if has_rescale else arr
    window = _first_window(ds)
    if "VOILUTSequence" in ds:
        display = _apply_voi_lut_table(values, ds)
    elif window is not None:
        center, width = window
        display = to_uint8(values, center - width / 2.0, center + width / 2.0)
    elif not has_rescale and arr.dtype == np.uint8 and int(ds.get("BitsStored", 8) or 8) == 8:
        display = arr  # already display-ready 8-bit greyscale
    else:
        display = to_uint8(values)
    if photometric == "MONOCHROME1":  # 0 means white
        display = 255 - display
    return np.ascontiguousarray(display, dtype=np.uint8)


def _has_linear_rescale(ds) -> bool:
    """Slope/intercept other than the identity (1, 0), which would only turn integers into floats."""
    slope, intercept = ds.get("RescaleSlope", 1), ds.get("RescaleIntercept", 0)
    return float(slope if slope not in (None, "") else 1) != 1.0 or float(intercept if intercept not in (None, "") else 0) != 0.0


def _first_window(ds) -> tuple[float, float] | None:
    """The first (WindowCenter, WindowWidth) pair, or None when absent or unusable."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    from pydicom.multival import MultiValue

    def first(value):
        return value[0] if isinstance(value, (MultiValue, list, tuple)) and len(value) else value

    try:
        center, width = float(first(ds.WindowCenter)), float(first(ds.WindowWidth))
    except (TypeError, ValueError):
        return None
    return (center, width) if width > 0 else None


def _apply_voi_lut_table(values: np.ndarray, ds) -> np.ndarray:
    from pydicom.pixels import apply_voi_lut

    if np.issubdtype(values.dtype, np.floating):  # LUTs are indexed by integer modality values
        values = np.rint(values).astype(np.int64)
    windowed = apply_voi_lut(values, ds, index=0, prefer_lut=True)
    lut = np.asarray(ds.VOILUTSequence[0].get("LUTData", []) or [0], dtype=np.float64)
    low, high = float(lut.min()), float(lut.max())
    return to_uint8(windowed, low, high) if high > low else to_uint8(windowed)


def _colour_to_rgb8(arr: np.ndarray, ds, photometric: str) -> np.ndarray:
    from pydicom.pixels import convert_color_space

    if photometric in ("YBR_FULL", "YBR_FULL_422"):  # decoders usually convert already; this is the fallback
        arr = convert_color_space(arr, photometric, "RGB")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    bits = int(ds.get("BitsStored", 8) or 8)
    return to_uint8(arr, 0, 2.0**bits - 1)


def _palette_to_rgb8(arr: np.ndarray, ds) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    rgb = apply_color_lut(arr, ds)
    return to_uint8(rgb, 0, 255.0 if rgb.dtype == np.uint8 else 65535.0)
