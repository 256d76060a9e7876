"""Support for the serve tests (no tests here). A small stand-in for medsearch.search.Index, injected into the serve app in tests (no model, no faiss)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from medsearch.errors import StoreError
from medsearch.index_dir import IndexManifest, ModalityEntry


@dataclass
class StubRecord:
    item_id: int
    archive: str
    key: str
    image_path: str | None
    text: str | None
    labels: list[str] = field(default_factory=list)
    patient: str | None = None
    split: str | None = None
    licence: str | None = None
    modality: str | None = None
    extra: dict = field(default_factory=dict)
    image_vector_id: int | None = None
    text_vector_id: int | None = None


@dataclass
class StubResult:
    rank: int
    score: float
    item_id: int
    key: str
    target: str
    image_path: str | None
    text: str | None
    labels: list[str] = field(default_factory=list)
    licence: str | None = None
    split: str | None = None
    modality: str | None = None
    extra: dict = field(default_factory=dict)


class StubIndex:
    """Returns every record (filtered by modality), scores descending; records each call for assertions."""

    def __init__(self, records: list[StubRecord]):
        self.records = {r.item_id: r for r in records}
        self.calls: list[tuple] = []
        self.closed = False
        entry = ModalityEntry(factory="Flat", count=len(records), index_file="image.faiss",
                              vectors_file="image_vectors.npy", checksum="0")
        self.manifest = IndexManifest(model_id="fake-32", model_name="fake", dim=32,
                                      modalities={"image": entry, "text": entry})

    def _results(self, k, target, filters):
        records = [r for r in self.records.values()
                   if filters is None or filters.modality is None or r.modality == filters.modality]
        return [
            StubResult(i + 1, round(0.9 - 0.1 * i, 3), r.item_id, r.key, target, r.image_path, r.text,
                       list(r.labels), r.licence, r.split, r.modality, dict(r.extra))
            for i, r in enumerate(records[:k])
        ]

    def search_text(self, query, k=10, target="image", ensemble=True, expand=True, filters=None):
        self.calls.append(("text", query, k, target, filters))
        return self._results(k, target, filters)

    def search_image(self, image, k=10, target="text", filters=None):
        self.calls.append(("image", image, k, target, filters))
        return self._results(k, target, filters)

    def item(self, item_id):
        if item_id not in self.records:
            raise StoreError(f"no item {item_id}")
        return self.records[item_id]

    def info(self):
        return {
            "path": "/secret/index/dir",
            "db_url": "postgresql://user:password@db/x",
            "counts": {"image": 2, "text": 3},
            "facets": {"modalities": {"CR": 1, "CT": 1}, "labels": {"pneumothorax": 2, "fracture": 1},
                       "splits": {"test": 3}, "licences": {"CC BY": 2, "CC BY-NC": 1}},
        }

    def close(self):
        self.closed = True


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
