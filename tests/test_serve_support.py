"""Support for the serve tests (no tests here): a real index of chosen items (fake encoder) with its calls
recorded, images and DICOM files to upload, a live server."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def open_served_index(index_dir: Path, items: list[dict], archive_root: Path):
    """The real ``Index`` (fake encoder) over exactly these items (see conftest.write_test_index; item ids 1, 2, ...
    in order), its searches and closing recorded (``recording``)."""
    from conftest import write_test_index

    from medsearch.search import open_index

    write_test_index(index_dir, items, archive_root)
    return recording(open_index(index_dir, model="fake"))


def recording(index):
    """``index`` with its searches recorded in ``index.calls`` as (kind, query, k, target, filters) and its closing
    in ``index.closed``, so that the serve tests see what the routes asked of it; the real methods answer."""
    index.calls, index.closed = [], False

    def recorded(kind: str, method):
        def call(query, k=10, **options):
            index.calls.append((kind, query, k, options.get("target"), options.get("filters")))
            return method(query, k=k, **options)

        return call

    for kind, name in (("text", "search_text"), ("image", "search_image"), ("similar", "search_similar")):
        setattr(index, name, recorded(kind, getattr(index, name)))
    close = index.close

    def closed():
        index.closed = True
        close()

    index.close = closed
    return index


def store_unchecked_extra(index_dir: Path, key: str, extra: dict) -> None:
    """Give a stored item ``extra`` as it is, past the store's refusal of patient keys: what an index written by
    an older version, or by hand, may hold (the server must still never show it)."""
    from sqlalchemy import create_engine, update

    from medsearch.index_dir import IndexDir
    from medsearch.store.models import ItemRow

    engine = create_engine(IndexDir(index_dir).default_db_url)
    with engine.begin() as connection:
        connection.execute(update(ItemRow).where(ItemRow.key == key).values(extra=extra))
    engine.dispose()


def png_bytes(size=(64, 48), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    arr = (rng.random((size[1], size[0])) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 60, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


PHI = {"PatientName": "Doe^Jane", "PatientID": "MRN-4471", "PatientBirthDate": "19500101",
       "InstitutionName": "Saint Nowhere Hospital"}


def write_dicom(path: Path, size: int = 48) -> Path:
    """A small CR DICOM file (Part 10) that carries patient tags, like a real archive file would."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    ds.Modality, ds.BodyPartExamined = "CR", "CHEST"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = (np.arange(size * size) % 251).astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


class LiveServer:
    """uvicorn on a free loopback port in a background thread; ``with LiveServer(app) as url: ...``."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> str:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
