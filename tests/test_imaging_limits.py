"""Decompression-bomb guards: decoded bytes checked from the header, bounded inflate of deflated DICOM, and large
images decoded reduced (issue 8 item 9)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dicom_factory import write_dicom
from medsearch.errors import ImageLoadError, ImageTooLarge
from medsearch.imaging import load_image, load_image_bytes
from medsearch.imaging.limits import inflate_bounded


def _deflated_dicom(path, pixels: np.ndarray, **tags):
    """The factory's DICOM rewritten with the Deflated Explicit VR Little Endian transfer syntax."""
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    write_dicom(path, pixels, **tags)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def _png(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 100).save(buffer, format="PNG")
    return buffer.getvalue()


def test_deflated_dicom_loads_like_its_explicit_twin(tmp_path):
    ramp = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 7) % 4096
    plain = write_dicom(tmp_path / "plain.dcm", ramp, BitsStored=12, HighBit=11)
    deflated = _deflated_dicom(tmp_path / "deflated.dcm", ramp, BitsStored=12, HighBit=11)
    assert b"1.2.840.10008.1.2.1.99" in deflated.read_bytes()[:1024]
    a, b = np.asarray(load_image(plain)), np.asarray(load_image(deflated))
    assert a.shape == (48, 64, 3) and np.array_equal(a, b)
    assert np.array_equal(np.asarray(load_image_bytes(deflated.read_bytes())), a)


def test_deflated_dicom_bomb_is_refused_while_inflating(tmp_path):
    # 20 MB of zeros deflate to a few kB; with a 1 MiB budget the inflate stops at budget + header slack (17 MiB)
    bomb = _deflated_dicom(tmp_path / "bomb.dcm", np.zeros((3200, 3200), np.uint16))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ImageTooLarge, match="inflates to more than 17 MiB"):
        load_image(bomb, max_bytes=1024 * 1024)
    with pytest.raises(ImageTooLarge, match="inflates to more than"):
        load_image_bytes(bomb.read_bytes(), max_bytes=1024 * 1024)
    assert load_image(bomb, max_side=512).size == (458, 458)  # within the default budget it decodes, reduced


def test_inflate_bounded_stops_at_the_cap():
    import zlib

    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = raw.compress(b"\0" * (40 * 1024 * 1024)) + raw.flush()
    with pytest.raises(ImageTooLarge):
        inflate_bounded(data, "x", limit=1024)
    assert len(inflate_bounded(data, "x", limit=64 * 1024 * 1024)) == 40 * 1024 * 1024


def test_dicom_decoded_bytes_are_checked_from_the_header_before_decoding(tmp_path):
    # 9000 x 9000 = 81 Mpx (under the pixel limit) x 3 samples x 16 bits = 486 MB > a 256 MiB budget;
    # the pixel data is a stub: decoding it would fail differently, so the message proves the order
    path = write_dicom(tmp_path / "claims.dcm", np.zeros((2, 2), np.uint16))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PlanarConfiguration = 9000, 9000, 3, 0
    ds.PhotometricInterpretation = "RGB"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageTooLarge, match=r"9000x9000 at 6 bytes per pixel = 463 MiB decoded exceeds the limit of 256 MiB"):
        load_image(path, max_bytes=256 * 1024 * 1024)


def test_png_decoded_bytes_limit_counts_bands():
    with pytest.raises(ImageTooLarge, match="40,000 bytes decoded exceeds the limit of 30,000 bytes"):
        load_image_bytes(_png(100, 100, "RGB"), max_bytes=30_000)  # Pillow holds RGB as 4 bytes per pixel
    assert load_image_bytes(_png(100, 100, "L"), max_bytes=30_000).size == (100, 100)


def test_decoded_bytes_limit_from_environment(monkeypatch):
    monkeypatch.setenv("MEDSEARCH_MAX_DECODED_BYTES", "5000")
    with pytest.raises(ImageTooLarge, match="limit of 5,000 bytes"):
        load_image_bytes(_png(100, 100, "L"))


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "I;16"])
def test_large_png_comes_back_reduced(mode):
    image = load_image_bytes(_png(900, 600, mode), max_side=200)
    assert image.mode == "RGB" and max(image.size) <= 200 and image.size[0] >= 150
    assert load_image_bytes(_png(900, 600, mode), max_side=None).size == (900, 600)


def test_large_jpeg_is_decoded_reduced_by_the_decoder():
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 200, 30)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    # 1.92 Mpx is over a 200,000-pixel limit at full size, but DCT scaling decodes it at 1/4: 400x300
    image = load_image_bytes(data, max_pixels=200_000, max_side=400)
    assert image.size == (400, 300)
    with pytest.raises(ImageTooLarge):
        load_image_bytes(data, max_pixels=200_000, max_side=None)


def test_too_large_is_still_an_image_load_error():
    assert issubclass(ImageTooLarge, ImageLoadError)
