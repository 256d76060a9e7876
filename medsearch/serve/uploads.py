"""Uploaded query images: read into memory with a size cap, check the type by magic bytes, never store."""

from __future__ import annotations

import re

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


MULTIPART = "multipart/form-data"
FORM_OVERHEAD = 64 * 1024  # room for a form's boundaries and part headers around the file
FILE_FIELDS = ("file", "image", "upload")


def multipart_file(body: bytes, content_type_header: str) -> bytes:
    """The file in a multipart/form-data body: the first part that has a filename or is named file/image/upload.
    A small parser of our own (one file, already in memory, size-capped): nothing is spooled to disk."""
    match = re.search(r'boundary="?([^";]+)"?', content_type_header, re.IGNORECASE)
    if match is None:
        raise ApiError(400, "bad_form", "the multipart form has no boundary")
    for part in body.split(b"--" + match.group(1).encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            continue
        disposition = head.decode("latin-1").lower()
        if "filename=" in disposition or any(f'name="{name}"' in disposition for name in FILE_FIELDS):
            return content[:-2] if content.endswith(b"\r\n") else content
    raise ApiError(400, "empty_upload", "the form has no file: send the image in a field named 'file'")


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The uploaded file as bytes and its kind: the request body itself (PNG, JPEG or DICOM), or the file field
    of a multipart form (as an HTML form or ``curl -F file=@scan.dcm`` sends it). Nothing is spooled to disk."""
    header = request.headers.get("content-type", "")
    content_type = header.split(";")[0].strip().lower()
    form = content_type == MULTIPART
    if content_type not in ACCEPTED_CONTENT_TYPES and not form:
        raise ApiError(415, "unsupported_media_type",
                       f"content type {content_type!r} is not accepted: send a PNG, JPEG or DICOM file "
                       "as the request body or as the 'file' field of a multipart form")
    body_limit = limit + FORM_OVERHEAD if form else limit
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > body_limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > body_limit:
            raise _too_large(limit)
        chunks.append(chunk)
    data = b"".join(chunks)
    if form:
        data = multipart_file(data, header)
        if len(data) > limit:
            raise _too_large(limit)
    if not data:
        raise ApiError(400, "empty_upload", "the upload is empty: send a PNG, JPEG or DICOM file as the body")
    kind = sniff_kind(data)
    if kind is None:
        raise ApiError(415, "unsupported_media_type", "the upload is not a PNG, JPEG or DICOM (Part 10) file")
    return data, kind
