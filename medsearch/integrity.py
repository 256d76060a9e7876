"""Index integrity: the cheap checks every open does, and the full check of `medsearch verify`.

Cheap (on open, per part as it loads):

- store: a database without medsearch's schema is an error (``Store.open(create=False)``); a store with no items
  while the manifest lists some is an error; store vector ids outside ``[id_base, id_base + rows)`` of the vector
  file (dangling, or of another generation) are an error.
- vector files: the ``.npy`` header (float32, (n, dim)), a size that holds every committed row, and the norms of
  ``NORM_SAMPLE`` rows spread over the file (every encoder writes unit vectors; floats from anywhere else almost
  never have norm 1).

Full (``verify_index``): sha256 of each FAISS file and of each vector file's committed rows against the
manifest, every vector's norm, and the cheap checks.
"""

from __future__ import annotations

import fcntl
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

from medsearch.errors import IndexCorrupt
from medsearch.index_dir import MANIFEST, IndexDir, IndexManifest, ModalityEntry, sha256_file

NORM_SAMPLE = 64
NORM_TOLERANCE = 1e-2  # |norm - 1| allowed (float16 autocast rounds; zero vectors are allowed too)
VERIFY_HINT = "run `medsearch verify --index DIR` for the full check, then rebuild with `medsearch index ... --rebuild`"


@dataclass
class VectorHeader:
    rows: int
    dim: int
    offset: int  # bytes before row 0


def read_vector_header(path: Path) -> VectorHeader:
    """The header of a vector file; FileNotFoundError (not IndexCorrupt) when it is gone: a writer may have just
    replaced it, and readers then reopen the newer manifest."""
    try:
        with open(path, "rb") as f:
            npy.read_magic(f)
            shape, fortran, dtype = npy.read_array_header_1_0(f)
            offset = f.tell()
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as exc:
        raise IndexCorrupt(f"{Path(path).name} is not a vector file: {exc}", hint=VERIFY_HINT) from exc
    if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
        raise IndexCorrupt(f"{Path(path).name} holds {dtype} {shape}, expected float32 (n, dim)", hint=VERIFY_HINT)
    return VectorHeader(shape[0], shape[1], offset)


def check_vector_file(path: Path, entry: ModalityEntry, dim: int, sample: int | None = NORM_SAMPLE) -> VectorHeader:
    """Header, size and (sampled, or with ``sample=None`` all) norms of one vector file."""
    path = Path(path)
    header = read_vector_header(path)
    if header.dim != dim:
        raise IndexCorrupt(f"{path.name} has dimension {header.dim}, the index {dim}", hint=VERIFY_HINT)
    if header.rows < entry.count:
        raise IndexCorrupt(f"{path.name} holds {header.rows} vectors, the manifest {entry.count}", hint=VERIFY_HINT)
    needed = header.offset + header.rows * dim * 4
    size = path.stat().st_size
    if size < needed:
        raise IndexCorrupt(f"{path.name} is {size} bytes, too short for its {header.rows} vectors", hint=VERIFY_HINT)
    if entry.count:
        vectors = np.load(path, mmap_mode="r")
        rows = (np.arange(entry.count) if sample is None or entry.count <= sample
                else np.linspace(0, entry.count - 1, sample).astype(np.int64))
        bad = _bad_norms(vectors, rows)
        if bad:
            row, norm = bad
            raise IndexCorrupt(f"{path.name}: vector {row} has norm {norm:.3f}, not 1: the file holds other data "
                               "than this index wrote", hint=VERIFY_HINT)
    return header


def _bad_norms(vectors: np.ndarray, rows: np.ndarray, chunk: int = 65536) -> tuple[int, float] | None:
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        norms = np.linalg.norm(np.asarray(vectors[part], dtype=np.float32), axis=1)
        wrong = ~((np.abs(norms - 1) <= NORM_TOLERANCE) | (norms == 0))
        if wrong.any():
            i = int(np.argmax(wrong))
            return int(part[i]), float(norms[i])
    return None


def rows_checksum(path: Path, dim: int, count: int) -> str:
    """sha256 of the first ``count`` rows' bytes (not the header, which an append rewrites)."""
    header = read_vector_header(path)
    h = hashlib.sha256()
    remaining = count * dim * 4
    with open(path, "rb") as f:
        f.seek(header.offset)
        while remaining:
            chunk = f.read(min(1 << 20, remaining))
            if not chunk:
                raise IndexCorrupt(f"{Path(path).name} ends before its {count} vectors", hint=VERIFY_HINT)
            h.update(chunk)
            remaining -= len(chunk)
    return h.hexdigest()


def writer_active(index_dir: Path) -> bool:
    """True while an `index`, `delete` or `compact` run holds the directory's lock."""
    try:
        handle = open(IndexDir(index_dir).lock, "rb")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def store_url(index_dir: Path, db_url: str | None, manifest: IndexManifest | None = None) -> str:
    """The URL of an existing index's store (``db_url`` when given, else the manifest's, else the directory's own
    meta.sqlite); IndexCorrupt when that is the directory's own file and it is gone: opening it would create an
    empty store, which every command would then call "empty, not a medsearch store"."""
    files = IndexDir(index_dir)
    url = files.db_url(db_url, manifest)
    if url == files.default_db_url and not files.store_file.is_file():
        raise IndexCorrupt(f"{files.store_file} is missing from the index directory")
    return url


def check_store(index_dir: Path, manifest: IndexManifest, store) -> None:
    """The store belongs to this manifest: not empty when the manifest lists items, and every vector id it
    holds inside this generation's vector files (min and max of an indexed column: cheap at any size)."""
    if writer_active(index_dir):
        return  # a writer is between its store rows and its manifest; the manifest will catch up
    listed = manifest.items if manifest.items is not None else max((e.live or 0) for e in manifest.modalities.values()) \
        if manifest.modalities else 0
    if listed and not store.has_items():  # cheap: one indexed row, not a count (this runs on every cold open)
        raise IndexCorrupt(f"the store {store!r} holds no items, but the manifest lists {listed}: the metadata "
                           "database was emptied or replaced", hint=VERIFY_HINT)
    for modality, entry in manifest.modalities.items():
        low, high = store.vector_id_range(modality)
        if low is None:
            continue
        rows = read_vector_header(IndexDir(index_dir).file(entry.vectors_file)).rows
        if low < entry.id_base or high >= entry.id_base + rows:
            raise IndexCorrupt(
                f"the store's {modality} vector ids {low}..{high} lie outside this index's "
                f"{entry.id_base}..{entry.id_base + rows - 1}: store and index files are from different builds",
                hint=VERIFY_HINT)


@dataclass
class VerifyReport:
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_index(index_dir: Path, manifest: IndexManifest, store) -> VerifyReport:
    """Every check, collecting problems instead of stopping at the first."""
    from medsearch.errors import MedsearchError

    files = IndexDir(index_dir)
    report = VerifyReport()
    for modality, entry in manifest.modalities.items():
        for name, expected, actual in (
            (entry.index_file, entry.checksum, lambda e=entry: sha256_file(files.file(e.index_file))),
            (entry.vectors_file, entry.vectors_checksum,
             lambda e=entry: rows_checksum(files.file(e.vectors_file), manifest.dim, e.count)),
        ):
            try:
                if expected is None:
                    report.checked.append(f"{name}: no checksum in the manifest (older index), skipped")
                elif actual() != expected:
                    report.problems.append(f"{name} does not match its checksum in {MANIFEST}")
                else:
                    report.checked.append(f"{name}: checksum ok")
            except (OSError, MedsearchError) as exc:
                report.problems.append(f"{name}: {exc}")
        try:
            check_vector_file(files.file(entry.vectors_file), entry, manifest.dim, sample=None)
            report.checked.append(f"{entry.vectors_file}: header, size and all {entry.count} norms ok")
        except (OSError, MedsearchError) as exc:
            report.problems.append(str(exc))
    try:
        check_store(index_dir, manifest, store)
        counts = store.counts()
        report.checked.append(f"store: {counts['items']} items, vector ids inside the index's files")
    except MedsearchError as exc:
        report.problems.append(str(exc))
    return report


def imbalance(list_sizes) -> float | None:
    """FAISS's imbalance factor of IVF list sizes: nlist * sum(size^2) / n^2 (1 = even; 2 = a query scans
    twice the vectors an even split would). None without lists or vectors."""
    if not list_sizes:
        return None
    sizes = np.asarray(list_sizes, dtype=np.float64)
    total = sizes.sum()
    return round(float(len(sizes) * (sizes ** 2).sum() / total ** 2), 3) if total else None
