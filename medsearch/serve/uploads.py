"""Uploaded query images: read into memory with a size cap, check the type by magic bytes, never store."""

from __future__ import annotations

from fastapi import Request

from medsearch.serve.errors import ApiError

ACCEPTED_CONTENT_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/jpg", "application/dicom", "application/octet-stream", ""}
)


def sniff_kind(data: bytes) -> str | None:
    """'png' | 'jpeg' | 'dicom' (Part 10: 'DICM' after the 128-byte preamble) | None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    return None


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "upload_too_large", f"the upload is larger than the {_size(limit)} limit")


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The request body as bytes (the file itself, not multipart: nothing is spooled to disk) and its kind."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"content type {content_type!r} is not accepted: send a PNG, JPEG or DICOM file "
                       "as the request body (not a form)")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise ApiError(400, "empty_upload", "the upload is empty: send a PNG, JPEG or DICOM file as the body")
    kind = sniff_kind(data)
    if kind is None:
        raise ApiError(415, "unsupported_media_type", "the upload is not a PNG, JPEG or DICOM (Part 10) file")
    return data, kind
