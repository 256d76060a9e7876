"""Tell DICOM from raster images by content, not by file extension."""

from __future__ import annotations

DICOM_MAGIC_OFFSET = 128
DICOM_MAGIC = b"DICM"
HEADER_BYTES = 132

# First tag group of a DICOM stream without the 128-byte preamble (old ACR-NEMA files, bare datasets):
# command (0000), file meta (0002) or identifying (0008) group, little or big endian.
_BARE_DICOM_STARTS = (b"\x00\x00", b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def has_dicom_preamble(head: bytes) -> bool:
    return head[DICOM_MAGIC_OFFSET:DICOM_MAGIC_OFFSET + 4] == DICOM_MAGIC


def may_be_bare_dicom(head: bytes) -> bool:
    """A cheap hint that the bytes could be a DICOM stream with no preamble; confirmed by parsing."""
    return len(head) >= 8 and head[:2] in _BARE_DICOM_STARTS


def read_head(path) -> bytes:
    with open(path, "rb") as f:
        return f.read(HEADER_BYTES)
