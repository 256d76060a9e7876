"""The index directory and its manifest.json: everything needed to answer a query lives here.

Layout (``IndexDir`` names every file; nothing else joins these names to a directory)::

    manifest.json          model id, dim, per-modality factory/count/checksum, created, store URL, analysis stamp
    manifest.next.json     a compact's next manifest, between its steps (see ``medsearch.snapshot``)
    image.faiss            ANN index over image vectors (ids = rows of image_vectors.npy); image.vN.faiss later
    text.faiss             ANN index over text vectors
    image_vectors.npy      float32 (n, dim) for exact rescoring; image_vectors.gN.npy after a compact
    text_vectors.npy
    meta.sqlite            metadata store, unless the manifest names a database URL
    skipped.jsonl          the items the latest indexing run skipped, and why
    .lock                  held by the writer (index, delete, compact) while it writes

File names come from the manifest: ``compact`` writes a new generation (``image_vectors.g2.npy``, ...) and each
write saves the FAISS index under a new name, then swaps ``manifest.json`` atomically, so a reader holding the
old manifest keeps a consistent set of files (see ``medsearch.snapshot``). Store vector ids are
``id_base + row`` of the vectors file: a compacted generation starts its ids past every id used before, so an
old reader never maps a row to the wrong item (it sees the id as stale and reopens).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from medsearch.errors import IndexCorrupt, IndexMismatch, IndexNotFound

FORMAT_VERSION = 1  # raise it for a change an older medsearch must not misread (it then refuses the index)
MODALITIES = ("image", "text")
MANIFEST = "manifest.json"
NEXT_MANIFEST = "manifest.next.json"
STORE_FILE = "meta.sqlite"
SKIPPED_FILE = "skipped.jsonl"
LOCK_FILE = ".lock"


class _File:
    """A fixed file of the index directory: its path on an ``IndexDir``, its name on the class."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, index_dir: "IndexDir | None", owner=None):
        return self.name if index_dir is None else index_dir.path / self.name


@dataclass(frozen=True)
class IndexDir:
    """An index directory: the one owner of its file names and of its metadata database's default URL."""

    path: Path

    manifest = _File(MANIFEST)
    next_manifest = _File(NEXT_MANIFEST)
    store_file = _File(STORE_FILE)
    skipped = _File(SKIPPED_FILE)
    lock = _File(LOCK_FILE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def file(self, name: str) -> Path:
        """A file the manifest names (``ModalityEntry.index_file`` / ``vectors_file``)."""
        return self.path / name

    def faiss(self, modality: str, version: int = 0) -> Path:
        return self.path / faiss_file_name(modality, version)

    def vectors(self, modality: str, generation: int = 0) -> Path:
        return self.path / vectors_file_name(modality, generation)

    @property
    def default_db_url(self) -> str:
        """The store when no database URL is given: ``meta.sqlite`` in the directory."""
        return f"sqlite:///{self.store_file.resolve()}"

    def db_url(self, db_url: str | None = None, manifest: "IndexManifest | None" = None) -> str:
        """The metadata database: ``db_url`` when given, else the manifest's (read from the directory when not
        passed: IndexNotFound without one), else ``meta.sqlite`` here."""
        if db_url:
            return db_url
        return (manifest or read_manifest(self.path)).db_url or self.default_db_url


@dataclass
class ModalityEntry:
    factory: str  # faiss factory string actually used, e.g. "Flat" or "IVF1024,PQ32"
    count: int
    index_file: str
    vectors_file: str
    checksum: str  # sha256 of the index file
    nprobe: int | None = None  # IVF probes chosen at build time (None for exact indexes)
    id_base: int = 0  # store vector id of row 0 of the vectors file
    live: int | None = None  # vectors a store row pointed at when this manifest was written (count - live = dead)
    vectors_checksum: str | None = None  # sha256 of the committed vector rows (not the header); `verify` checks it
    list_sizes: list[int] | None = None  # IVF: vectors per inverted list (imbalance, drift)
    trained_count: int | None = None  # IVF: vectors the index held when its quantiser was trained


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
    generation: int = 0  # bumped by `compact` (new vector files, new ids)
    version: int = 0  # bumped by every write of the manifest
    items: int | None = None  # store items when this manifest was written
    # the full-text analysis every stored text was read with (medsearch.lexical.stamp); None: a manifest written
    # before stamps, or texts read by more than one analysis (an older index that had texts added)
    analysis: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "IndexManifest":
        """A manifest any medsearch of this ``format`` wrote: a field it lacks takes its default (written before
        the field existed), a field this medsearch does not know is left out (a newer one's optional field; a
        write by this one drops it, so a newer field must mean nothing wrong when absent). A change an older
        medsearch must not misread raises ``FORMAT_VERSION`` instead, which ``read_manifest`` refuses."""
        mods = {k: ModalityEntry(**_known_fields(ModalityEntry, v)) for k, v in data.get("modalities", {}).items()}
        return cls(**{**_known_fields(cls, data), "modalities": mods})

    def files(self) -> set[str]:
        """The index and vector files this manifest points at, and the vector files its generation appends to
        (a modality whose first run was killed has committed rows but no entry yet)."""
        named = {name for e in self.modalities.values() for name in (e.index_file, e.vectors_file)}
        return named | {vectors_file_name(m, self.generation) for m in MODALITIES if m not in self.modalities}

    def check_encoder(self, encoder) -> None:
        """The one check, for indexing into this index and for querying it: the encoder's model id and
        dimension must be this index's (its ``ModelIdentity`` name says why not). IndexMismatch otherwise."""
        model_id = encoder.model_id
        if model_id != self.model_id and encoder.identity.name == self.model_name:
            # the manifest's own model name now produces another id: the manifest was edited, or the model's
            # weights changed since the index was built
            raise IndexMismatch(
                f"this index says it was built with {self.model_name!r} as model id {self.model_id!r}, "
                f"but {self.model_name!r} is now {model_id!r}",
                hint=f"the manifest or the {self.model_name!r} weights changed since indexing: rebuild the index "
                     f"(`medsearch index ... --rebuild`) or restore the model that produced {self.model_id!r}",
            )
        if model_id != self.model_id:
            raise IndexMismatch(f"this index was built with model {self.model_id!r}, not {model_id!r}",
                                hint=self.other_model_hint)
        if encoder.dim != self.dim:
            raise IndexMismatch(f"model {model_id!r} has dimension {encoder.dim}, the index {self.dim}",
                                hint=self.other_model_hint)

    @property
    def other_model_hint(self) -> str:
        return (f"use --model {self.model_name}, or rebuild the index with the model you want "
                "(`medsearch index ... --rebuild`)")


def _known_fields(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def vectors_file_name(modality: str, generation: int = 0) -> str:
    """One vector file per generation (``compact`` starts a new one)."""
    return f"{modality}_vectors.npy" if generation == 0 else f"{modality}_vectors.g{generation}.npy"


def faiss_file_name(modality: str, version: int = 0) -> str:
    """One FAISS file per manifest version (every write saves under a new name; see the module docstring)."""
    return f"{modality}.faiss" if version == 0 else f"{modality}.v{version}.faiss"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_not_found(index_dir: Path) -> IndexNotFound:
    """The error for a directory that holds no index (a mistyped --index), wherever that is found."""
    return IndexNotFound(f"no index at {index_dir} ({MANIFEST} is missing)")


def read_manifest(index_dir: Path, name: str = MANIFEST) -> IndexManifest:
    path = IndexDir(index_dir).file(name)
    if not path.exists():
        raise index_not_found(index_dir)
    try:
        data = json.loads(path.read_text())
        written = data.get("format", FORMAT_VERSION)
        if not isinstance(written, int):
            raise TypeError(f"format {written!r} is not a number")
        if written > FORMAT_VERSION:
            raise IndexMismatch(f"{path} was written by a newer medsearch (index format {written}; this one reads "
                                f"format {FORMAT_VERSION} and older)",
                                hint="upgrade medsearch (`pip install -U medsearch`) to open this index")
        return IndexManifest.from_dict(data)
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:  # AttributeError: not an object
        raise IndexCorrupt(f"{path} is not a valid index manifest: {exc}") from exc


def write_manifest(index_dir: Path, manifest: IndexManifest, name: str = MANIFEST) -> None:
    """Atomic write (temp file, fsync, rename, fsync of the directory): a crash never leaves a half-written
    manifest, and readers see either the old one or the new one."""
    import os

    path = IndexDir(index_dir).file(name)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        f.write(manifest.to_json())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def manifest_stamp(index_dir: Path) -> tuple | None:
    """(inode, mtime, size) of manifest.json: changes whenever a writer swaps in a new manifest."""
    try:
        st = IndexDir(index_dir).manifest.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def verify_checksums(index_dir: Path, manifest: IndexManifest) -> None:
    for name, entry in manifest.modalities.items():
        actual = sha256_file(IndexDir(index_dir).file(entry.index_file))
        if actual != entry.checksum:
            raise IndexCorrupt(f"{entry.index_file} does not match the checksum in {MANIFEST}")


# the shape of the names faiss_file_name and vectors_file_name give; is_index_file checks a match against them
_INDEX_FILE_SHAPE = re.compile(r"(?P<modality>[a-z]+)(?:_vectors)?(?:\.[vg](?P<number>[0-9]+))?\.(?:faiss|npy)")


def is_index_file(name: str) -> bool:
    """A FAISS or vector file name a writer gives (``faiss_file_name`` / ``vectors_file_name`` of a modality in
    ``MODALITIES``, any version or generation), and nothing else: these are the files ``remove_unreferenced``
    deletes when no manifest names them, and the ones a --rebuild may delete with the folder, so a user's
    ``embeddings.faiss`` or ``my_vectors.npy`` in the folder is never taken for the index's."""
    match = _INDEX_FILE_SHAPE.fullmatch(name)
    if match is None or match["modality"] not in MODALITIES:
        return False
    number = int(match["number"] or 0)
    return name in (faiss_file_name(match["modality"], number), vectors_file_name(match["modality"], number))


# the fixed files a writer makes, with SQLite's side files of the store (journal, WAL)
STORE_SIDE_FILES = ("", "-journal", "-wal", "-shm")
OWN_FILES = frozenset((MANIFEST, NEXT_MANIFEST, SKIPPED_FILE, LOCK_FILE,
                       *(STORE_FILE + side for side in STORE_SIDE_FILES)))


def is_own_file(name: str, store_name: str | None = None) -> bool:
    """A file name a medsearch writer makes in an index directory, a killed writer's NAME.tmp included;
    ``store_name``: an SQLite --db kept in the directory under another name (its side files count too)."""
    name = name.removesuffix(".tmp")
    if store_name is not None and name in {store_name + side for side in STORE_SIDE_FILES}:
        return True
    return name in OWN_FILES or is_index_file(name)


def sqlite_name_in(index_dir: Path, db_url: str | None) -> str | None:
    """The file name of the SQLite database ``db_url`` names when it lies in ``index_dir`` itself, else None."""
    if not db_url or not db_url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(db_url).database
    except ArgumentError:  # not a URL: opening the store says so, with the URLs it takes
        return None
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return path.name if path.resolve().parent == Path(index_dir).resolve() else None


def foreign_entries(index_dir: Path, db_url: str | None = None) -> list[str]:
    """The names in ``index_dir`` that no medsearch writer makes (sorted; folders end with "/"): a user's files
    in the folder given as --index, hidden ones (.git, .env) included, since a --rebuild deletes the folder.
    ``db_url``: a --db whose SQLite file lies in the folder, which then counts as the index's (pass it only
    where the folder is kept: a rebuild would delete it). A missing folder has none."""
    path = Path(index_dir)
    if not path.is_dir():
        return []
    store_name = sqlite_name_in(path, db_url)
    return sorted(entry.name + ("/" if entry.is_dir() else "") for entry in path.iterdir()
                  if entry.is_dir() or not is_own_file(entry.name, store_name))


def remove_unreferenced(index_dir: Path, *manifests: IndexManifest | None) -> list[str]:
    """Delete index and vector files none of ``manifests`` names (superseded versions, killed runs). Writers
    only, under the index lock, after the new manifest is in place."""
    keep = set().union(*(m.files() for m in manifests if m is not None))
    removed = []
    for path in Path(index_dir).iterdir():
        if path.is_file() and is_index_file(path.name) and path.name not in keep:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed
