"""The index directory and its manifest.json: everything needed to answer a query lives here.

Layout::

    manifest.json          model id, dim, per-modality factory/count/checksum, created, store URL
    image.faiss            ANN index over image vectors (ids = rows of image_vectors.npy)
    text.faiss             ANN index over text vectors
    image_vectors.npy      float32 (n, dim) for exact rescoring
    text_vectors.npy
    meta.sqlite            metadata store, unless the manifest names a database URL
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from medsearch.errors import IndexCorrupt, IndexMismatch, IndexNotFound

FORMAT_VERSION = 1
MODALITIES = ("image", "text")
MANIFEST = "manifest.json"


@dataclass
class ModalityEntry:
    factory: str  # faiss factory string actually used, e.g. "Flat" or "IVF1024,PQ32"
    count: int
    index_file: str
    vectors_file: str
    checksum: str  # sha256 of the index file
    nprobe: int | None = None  # IVF probes chosen at build time (None for exact indexes)


@dataclass
class IndexManifest:
    model_id: str
    model_name: str
    dim: int
    metric: str = "inner_product"
    db_url: str | None = None  # None -> sqlite:///<dir>/meta.sqlite
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    updated: str | None = None
    modalities: dict[str, ModalityEntry] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "IndexManifest":
        mods = {k: ModalityEntry(**v) for k, v in data.get("modalities", {}).items()}
        return cls(**{**data, "modalities": mods})

    def check_model(self, model_id: str) -> None:
        if model_id != self.model_id:
            raise IndexMismatch(
                f"this index was built with model {self.model_id!r}, not {model_id!r}",
                hint=f"query with --model {self.model_name} or rebuild the index with the model you want",
            )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_db_url(index_dir: Path) -> str:
    return f"sqlite:///{(Path(index_dir) / 'meta.sqlite').resolve()}"


def read_manifest(index_dir: Path) -> IndexManifest:
    path = Path(index_dir) / MANIFEST
    if not path.exists():
        raise IndexNotFound(f"no index at {index_dir} ({MANIFEST} is missing)")
    try:
        return IndexManifest.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise IndexCorrupt(f"{path} is not a valid index manifest: {exc}") from exc


def write_manifest(index_dir: Path, manifest: IndexManifest) -> None:
    """Atomic write: a crash never leaves a half-written manifest."""
    path = Path(index_dir) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(manifest.to_json())
    tmp.replace(path)


def verify_checksums(index_dir: Path, manifest: IndexManifest) -> None:
    for name, entry in manifest.modalities.items():
        actual = sha256_file(Path(index_dir) / entry.index_file)
        if actual != entry.checksum:
            raise IndexCorrupt(f"{entry.index_file} does not match the checksum in {MANIFEST}")
