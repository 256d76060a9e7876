"""Writer stage: vectors to ``<modality>_vectors.npy``, rows to the store, FAISS indexes and manifest.json.

Durability order per chunk (``commit``): vectors first, then store rows. A kill between the two leaves vectors
no row points at; a rerun embeds those items again and appends new rows. The store is the record of what is
done, so a rerun after a kill embeds only the items it lacks.

Changed items (new content hash) get new vectors appended and their store row replaced. The old vectors stay
in the files and the FAISS index, unreferenced: search drops hits with no store row. ``--rebuild`` compacts.

FAISS indexes are brought up to date in ``finalize``: rows the index lacks are added, or the index is
rebuilt from the vector file when the factory class changes (Flat -> IVF-PQ past ``ann.EXACT_LIMIT``), the
IVF list count should at least double (the collection grew about 4x), or ``--factory`` names another index.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from medsearch.errors import IndexMismatch
from medsearch.index_dir import (
    MANIFEST,
    MODALITIES,
    IndexManifest,
    ModalityEntry,
    read_manifest,
    sha256_file,
    write_manifest,
)
from medsearch.store import NewItem

from indexer import ann
from indexer.embed import Embedded
from indexer.vectors import VectorFile

SKIPPED_FILE = "skipped.jsonl"


def index_files(modality: str) -> tuple[str, str]:
    return f"{modality}.faiss", f"{modality}_vectors.npy"


def open_index_dir(index_dir: Path, model_id: str, model_name: str, dim: int, db_url: str | None) -> IndexManifest:
    """The manifest of ``index_dir``: created if absent, checked against the model if present."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    if (index_dir / MANIFEST).exists():
        manifest = read_manifest(index_dir)
        if manifest.model_id != model_id or manifest.dim != dim:
            raise IndexMismatch(
                f"{index_dir} was built with model {manifest.model_id!r} (dim {manifest.dim}), "
                f"not {model_id!r} (dim {dim})",
                hint=f"index with --model {manifest.model_name}, use another --index, or pass --rebuild",
            )
        if db_url is not None and manifest.db_url != db_url:
            raise IndexMismatch(f"{index_dir} keeps its metadata in another database",
                                hint="pass the same --db as when it was built, or --rebuild")
        return manifest
    manifest = IndexManifest(model_id=model_id, model_name=model_name, dim=dim, db_url=db_url)
    write_manifest(index_dir, manifest)
    return manifest


def clear_index_dir(index_dir: Path, default_db: bool) -> None:
    # not the lock file: the running process holds it
    names = [MANIFEST, SKIPPED_FILE] + [name for m in MODALITIES for name in index_files(m)]
    if default_db:
        names.append("meta.sqlite")
    for name in names:
        (index_dir / name).unlink(missing_ok=True)


class IndexWriter:
    def __init__(self, index_dir: Path, manifest: IndexManifest, store, archive_id: int, factory: str | None = None):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.store = store
        self.archive_id = archive_id
        self.factory = factory
        self.vectors = {m: VectorFile(self.index_dir / index_files(m)[1], manifest.dim) for m in MODALITIES}
        self._buffer: list[Embedded] = []
        self.written = 0

    def write(self, items: list[Embedded]) -> None:
        self._buffer.extend(items)

    def commit(self) -> int:
        """Make the buffered items durable: vectors, then store rows. Returns how many were committed."""
        items, self._buffer = self._buffer, []
        if not items:
            return 0
        ids = {m: self._append(m, [getattr(e, m) for e in items]) for m in MODALITIES}
        self.store.add_items(self.archive_id, [
            NewItem.from_item(e.pending.item, e.pending.content_hash,
                              image_vector_id=ids["image"][i], text_vector_id=ids["text"][i])
            for i, e in enumerate(items)
        ])
        self.written += len(items)
        return len(items)

    def _append(self, modality: str, vectors: list[np.ndarray | None]) -> list[int | None]:
        present = [v for v in vectors if v is not None]
        if not present:
            return [None] * len(vectors)
        new_ids = iter(self.vectors[modality].append(np.stack(present)))
        return [next(new_ids) if v is not None else None for v in vectors]

    def finalize(self) -> IndexManifest:
        """Bring each FAISS index up to its vector file, save it, and write the manifest."""
        self.commit()
        for modality in MODALITIES:
            if self.vectors[modality].count():
                self.manifest.modalities[modality] = self._sync_index(modality)
        self.manifest.updated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_manifest(self.index_dir, self.manifest)
        return self.manifest

    def _sync_index(self, modality: str) -> ModalityEntry:
        index_file, vectors_file = index_files(modality)
        path = self.index_dir / index_file
        vectors = self.vectors[modality].read()
        current = self.manifest.modalities.get(modality)
        wanted = self.factory or ann.choose_factory(len(vectors), self.manifest.dim)
        existing = self._load(path, current) if current is not None and path.exists() else None
        if existing is None or needs_rebuild(existing, wanted, len(vectors), forced=self.factory is not None):
            index = ann.build(np.asarray(vectors), wanted)
        else:
            index = existing
            index.add(np.asarray(vectors[index.ntotal:]))
        ann.save(index, path)
        return ModalityEntry(factory=index.factory, count=index.ntotal, index_file=index_file,
                             vectors_file=vectors_file, checksum=sha256_file(path), nprobe=index.nprobe)

    @staticmethod
    def _load(path: Path, entry: ModalityEntry) -> ann.AnnIndex | None:
        """The saved index, or None when it does not match the manifest (then it is rebuilt from the vectors)."""
        if sha256_file(path) != entry.checksum:
            return None
        try:
            return ann.load(path, entry.factory, entry.nprobe)
        except RuntimeError:  # faiss's error for an unreadable file; the vectors are the source of truth
            return None


def needs_rebuild(existing: ann.AnnIndex, wanted: str, n: int, forced: bool) -> bool:
    if existing.ntotal > n:  # an index ahead of its vector file cannot be trusted; rebuild from the vectors
        return True
    if forced:
        return existing.factory != wanted
    if ann.factory_class(existing.factory) != ann.factory_class(wanted):
        return True
    have, want = ann.nlist_of(existing.factory), ann.nlist_of(wanted)
    return have is not None and want is not None and want >= 2 * have
