"""medsearch.imaging: every sample DICOM renders, every bad input raises one clear ImageLoadError."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicom_factory import write_dicom
from medsearch.errors import ImageLoadError
from medsearch.imaging import (
    dicom_metadata,
    image_modality_hint,
    load_image,
    load_image_bytes,
    thumbnail,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom-samples"


def _manifest_rows() -> list[dict]:
    manifest = SAMPLES / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="") as f:
        return list(csv.DictReader(f))


def _expected_size(pixel_shape: str) -> tuple[int, int]:
    """manifest pixel_shape is [frames x] rows x cols [x samples]; PIL size is (cols, rows)."""
    dims = [int(d) for d in pixel_shape.split("x")]
    if dims[-1] == 3 and len(dims) >= 3:
        dims = dims[:-1]
    rows, cols = dims[-2], dims[-1]
    return cols, rows


def _png_bytes(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims a huge size (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def _synthetic_dicom(tmp_path: Path, with_pixels: bool = True, **tags) -> Path:
    """A 4x6 12-bit ramp (or no pixel data at all)."""
    if not with_pixels:
        return write_dicom(tmp_path / "synthetic.dcm", **tags)
    ramp = np.arange(24, dtype=np.uint16).reshape(4, 6)
    return write_dicom(tmp_path / "synthetic.dcm", ramp, **{"BitsStored": 12, "HighBit": 11, **tags})


# --- the 23 real sample files -------------------------------------------------------------------------------

@pytest.mark.parametrize("row", _manifest_rows(), ids=lambda r: r["file"])
def test_every_sample_dicom_renders_at_its_size(shared_data, row):
    image = load_image(shared_data / "dicom-samples" / row["file"])
    assert image.mode == "RGB"
    assert image.size == _expected_size(row["pixel_shape"])
    pixels = np.asarray(image)
    assert pixels.dtype == np.uint8
    assert pixels.std() > 5, "a rendered image should not be flat"


@pytest.mark.parametrize("row", _manifest_rows(), ids=lambda r: r["file"])
def test_every_sample_reports_its_modality(shared_data, row):
    path = shared_data / "dicom-samples" / row["file"]
    assert image_modality_hint(path) == row["modality"]
    assert dicom_metadata(path)["Modality"] == row["modality"]


def test_manifest_lists_23_files(shared_data):
    assert len(_manifest_rows()) == 23


def test_monochrome1_renders_as_inverse_of_monochrome2(shared_data):
    folder = shared_data / "dicom-samples"
    mono2 = np.asarray(load_image(folder / "CR_chest_SIIM_PA.dcm"), dtype=np.int16)
    mono1 = np.asarray(load_image(folder / "CR_chest_SIIM_PA_fake_MONOCHROME1.dcm"), dtype=np.int16)
    assert mono1.shape == mono2.shape
    assert np.array_equal(mono1 + mono2, np.full_like(mono1, 255))


def test_acr_nema_file_without_preamble_is_detected_by_content(shared_data, tmp_path):
    source = shared_data / "dicom-samples" / "CR_chest_MONO1_ACRNEMA_no_meta.dcm"
    renamed = tmp_path / "no_extension"
    renamed.write_bytes(source.read_bytes())
    assert load_image(renamed).size == (440, 440)


def test_multiframe_uses_the_middle_frame(shared_data):
    import pydicom
    from pydicom.pixels import pixel_array

    path = shared_data / "dicom-samples" / "XA_multiframe96.dcm"
    middle = pixel_array(pydicom.dcmread(path), index=48)
    rendered = np.asarray(load_image(path))[..., 0]
    assert np.array_equal(rendered, middle)  # 8-bit MONOCHROME2 without rescale or window: shown as stored


def test_ybr_colour_comes_out_as_rgb(shared_data):
    image = np.asarray(load_image(shared_data / "dicom-samples" / "US_ybr_multiframe30.dcm")).astype(int)
    assert image.shape == (240, 320, 3)
    # an ultrasound with colour overlays: channels differ somewhere (a YBR array shown raw would be green-tinted)
    assert np.abs(image[..., 0] - image[..., 2]).max() > 30
    assert abs(image[..., 1].mean() - image[..., 0].mean()) < 10


def test_dicom_loads_from_bytes(shared_data):
    data = (shared_data / "dicom-samples" / "CT_small.dcm").read_bytes()
    from_bytes = np.asarray(load_image_bytes(data, name="ct.dcm"))
    from_file = np.asarray(load_image(shared_data / "dicom-samples" / "CT_small.dcm"))
    assert np.array_equal(from_bytes, from_file)


def test_thumbnail_of_dicom_is_a_png_within_the_box(shared_data):
    png = thumbnail(shared_data / "dicom-samples" / "MG_screening_3062x2394.dcm", size=128)
    assert png.startswith(b"\x89PNG")
    small = Image.open(io.BytesIO(png))
    assert max(small.size) == 128
    assert small.size == (100, 128)  # 2394x3062 scaled into 128x128, aspect kept


# --- bad input: one clear ImageLoadError ---------------------------------------------------------------------

def test_truncated_roco_jpeg_raises(shared_data):
    path = shared_data / "roco" / "images" / "PMC4885136_gr1.jpg"
    with pytest.raises(ImageLoadError) as err:
        load_image(path)
    assert err.value.path == str(path)
    assert "truncated" in err.value.reason and "JPEG" in err.value.reason


def test_random_bytes_raise_not_an_image(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ImageLoadError, match="not an image") as err:
        load_image(path)
    assert err.value.path == str(path)


def test_bytes_that_look_like_bare_dicom_but_are_not_raise(tmp_path):
    data = b"\x08\x00" + np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    with pytest.raises(ImageLoadError) as err:
        load_image_bytes(data, name="fake.dcm")
    assert err.value.path == "fake.dcm"


def test_empty_and_missing_files_raise(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty file"):
        load_image(empty)
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "absent.png")


def test_dicom_without_pixel_data_raises(tmp_path):
    path = _synthetic_dicom(tmp_path, with_pixels=False)
    with pytest.raises(ImageLoadError, match="no pixel data") as err:
        load_image(path)
    assert err.value.path == str(path)


def test_png_header_claiming_a_huge_size_raises_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_claiming(12_000, 12_000))  # 144 Mpx > 100 Mpx default
    with pytest.raises(ImageLoadError, match=r"image too large: 12000x12000 = 144,000,000 pixels"):
        load_image(path)
    path.write_bytes(_png_header_claiming(60_000, 60_000))  # past Pillow's own hard stop
    with pytest.raises(ImageLoadError, match="image too large"):
        load_image(path)


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    data = _png_bytes(100, 100)
    assert load_image_bytes(data).size == (100, 100)
    with pytest.raises(ImageLoadError, match="exceeds the limit of 9,999"):
        load_image_bytes(data, max_pixels=9_999)
    monkeypatch.setenv("MEDSEARCH_MAX_PIXELS", "5000")
    with pytest.raises(ImageLoadError, match="exceeds the limit of 5,000"):
        load_image_bytes(data)


def test_missing_decoder_plugin_is_named(shared_data, monkeypatch):
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    decoder = get_decoder(JPEGLSLossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg>=2.0", "pylibjpeg-libjpeg>=2.1")})
    path = shared_data / "dicom-samples" / "US_mono.dcm"
    with pytest.raises(ImageLoadError) as err:
        load_image(path)
    assert err.value.path == str(path)
    assert err.value.reason.startswith("cannot decode DICOM pixel data (JPEG-LS Lossless Image Compression)")
    assert "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1" in err.value.reason
    assert "\n" not in err.value.reason


def test_unknown_transfer_syntax_is_named(tmp_path):
    import pydicom

    path = _synthetic_dicom(tmp_path)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7.8.9"
    with pytest.raises(ImageLoadError, match=r"unsupported DICOM transfer syntax: .*1\.2\.3\.4\.5\.6\.7\.8\.9"):
        from medsearch.imaging.dicom import render_dataset

        render_dataset(ds, path)


def test_dicom_pixel_limit_counts_frames(shared_data):
    path = shared_data / "dicom-samples" / "XA_multiframe96.dcm"
    with pytest.raises(ImageLoadError, match=r"512x512x96 frames = 25,165,824 pixels"):
        load_image(path, max_pixels=1_000_000)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about each damaged element
def test_damaged_dicom_bytes_load_or_raise_image_load_error(shared_data):
    """Truncated and bit-flipped copies of real files: an image or ImageLoadError, never another exception."""
    rng = np.random.default_rng(7)
    originals = [(shared_data / "dicom-samples" / name).read_bytes() for name in ("CT_small.dcm", "CT_RLE_fragments.dcm")]
    outcomes = set()
    for i in range(40):
        data = bytearray(originals[i % 2])
        if i % 4 < 2:
            data = data[: int(rng.integers(10, len(data)))]
        for _ in range(int(rng.integers(0, 6))):
            data[int(rng.integers(0, len(data)))] ^= 0xFF
        try:
            load_image_bytes(bytes(data), name=f"damaged-{i}")
            outcomes.add("image")
        except ImageLoadError as err:
            assert err.path == f"damaged-{i}" and err.reason
            outcomes.add("error")
    assert outcomes == {"image", "error"}


# --- rendering details on small synthetic data ---------------------------------------------------------------

def test_synthetic_16bit_dicom_uses_window_when_present(tmp_path):
    path = _synthetic_dicom(tmp_path, WindowCenter=10, WindowWidth=4)
    grey = np.asarray(load_image(path))[..., 0].ravel()
    # values 0..23, window [8, 12]: below -> 0, above -> 255, 10 -> middle
    assert grey[:8].tolist() == [0] * 8
    assert grey[12:].tolist() == [255] * 12
    assert grey[10] == 128


def test_window_applies_to_rescaled_values(tmp_path):
    # stored 0..23 -> slope 10, intercept -100 -> -100..130; window [-50, 50]
    path = _synthetic_dicom(tmp_path, RescaleSlope=10, RescaleIntercept=-100, WindowCenter=0, WindowWidth=100)
    grey = np.asarray(load_image(path))[..., 0].ravel()
    assert (grey[5], grey[10], grey[15]) == (0, 128, 255)


def test_monochrome1_window_is_inverted(tmp_path):
    path = _synthetic_dicom(tmp_path, WindowCenter=10, WindowWidth=4, PhotometricInterpretation="MONOCHROME1")
    grey = np.asarray(load_image(path))[..., 0].ravel()
    assert grey[0] == 255 and grey[23] == 0 and grey[10] == 127


def test_synthetic_16bit_dicom_without_window_is_stretched(tmp_path):
    grey = np.asarray(load_image(_synthetic_dicom(tmp_path)))[..., 0]
    assert grey.min() == 0 and grey.max() == 255


def test_png_and_rgba_become_rgb(tmp_path):
    assert load_image_bytes(_png_bytes(8, 5, "L")).mode == "RGB"
    rgba = load_image_bytes(_png_bytes(8, 5, "RGBA"))
    assert rgba.mode == "RGB" and rgba.size == (8, 5)


def test_sixteen_bit_png_is_scaled_to_its_range():
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    grey = np.asarray(load_image_bytes(buffer.getvalue()))[..., 0]
    assert grey.min() == 0 and grey.max() == 255 and grey[0, 1] > 0


def test_exif_orientation_is_applied():
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (40, 20), "white").save(buffer, format="JPEG", exif=exif)
    assert load_image_bytes(buffer.getvalue()).size == (20, 40)


def test_non_dicom_has_no_modality_hint(tmp_path):
    path = tmp_path / "plain.png"
    path.write_bytes(_png_bytes(4, 4))
    assert image_modality_hint(path) is None
    with pytest.raises(ImageLoadError, match="not a DICOM file"):
        dicom_metadata(path)
