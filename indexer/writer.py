"""Writer stage: vectors to ``<modality>_vectors.npy``, rows to the store, FAISS indexes and manifest.json.

Durability order per chunk (``commit``): vectors first, then store rows. A kill between the two leaves vectors
no row points at (orphans); the next run's writer drops them from the vector file before appending
(``reclaim_orphans``), so they are never counted or indexed. The store is the record of what is done, so a
rerun after a kill embeds only the items it lacks.

Store vector id = ``id_base`` + row of the vector file (see ``medsearch.index_dir``). Changed items (new
content hash) get new vectors appended and their store row replaced; deleted and pruned items lose their store
rows. Their old vectors stay in the files and the FAISS index, dead: search drops hits with no store row, and
``medsearch compact`` rewrites the files without them.

Readers: vector files only grow in place (readers map the rows their manifest counts); every FAISS save goes
to a new file name, and the manifest is swapped last, so a reader sees the old set or the new one.

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
    MODALITIES,
    IndexDir,
    IndexManifest,
    ModalityEntry,
    faiss_file_name,
    read_manifest,
    remove_unreferenced,
    sha256_file,
    write_manifest,
)
from medsearch.integrity import rows_checksum
from medsearch.store import NewItem

from indexer import ann
from indexer.embed import Embedded
from indexer.vectors import VectorFile

def open_index_dir(index_dir: Path, encoder, db_url: str | None,
                   manifest: IndexManifest | None = None) -> IndexManifest:
    """The manifest of ``index_dir``: created for the encoder (its ``model_id``, its registry name) if absent,
    checked against it if present (``IndexManifest.check_encoder``). ``manifest``: the directory's, as the caller
    read it under the index lock (read here when not given)."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    if manifest is None and IndexDir(index_dir).manifest.exists():
        manifest = read_manifest(index_dir)
    if manifest is not None:
        manifest.check_encoder(encoder)
        if db_url is not None and manifest.db_url != db_url:
            raise IndexMismatch(f"{index_dir} keeps its metadata in another database",
                                hint="pass the same --db as when it was built, or --rebuild")
        return manifest
    manifest = IndexManifest(model_id=encoder.model_id, model_name=encoder.identity.name, dim=encoder.dim,
                             db_url=db_url)
    write_manifest(index_dir, manifest)
    return manifest


def index_vector_files(files: IndexDir, manifest: IndexManifest) -> dict[str, VectorFile]:
    """Each modality's vector file: the one the manifest names, or this generation's name when it names none
    yet (a new index, or a killed first run whose vectors the manifest does not list)."""
    return {m: VectorFile(files.file(entry.vectors_file) if (entry := manifest.modalities.get(m))
                          else files.vectors(m, manifest.generation), manifest.dim)
            for m in MODALITIES}


class IndexWriter:
    def __init__(self, index_dir: Path, manifest: IndexManifest, store, archive_id: int, factory: str | None = None,
                 id_base: int = 0, retrain: bool = False):
        self.files = IndexDir(index_dir)  # its path is the one place the directory is kept
        self.manifest = manifest
        self.store = store
        self.archive_id = archive_id
        self.factory = factory
        self.retrain = retrain
        self.vectors: dict[str, VectorFile] = index_vector_files(self.files, manifest)
        # store vector id of row 0 of each modality's vector file: the manifest's, else this run's
        self.base: dict[str, int] = {m: entry.id_base if (entry := manifest.modalities.get(m)) else id_base
                                     for m in self.vectors}
        self._buffer: list[Embedded] = []
        self.written = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def reclaim_orphans(self) -> int:
        """Drop vector rows past both the manifest's count and the largest id a store row points at: a killed
        run wrote them and died before their store rows. Returns how many were dropped."""
        dropped = 0
        for m, vectors in self.vectors.items():
            entry = self.manifest.modalities.get(m)
            _, high = self.store.vector_id_range(m)
            keep = max(entry.count if entry else 0, 0 if high is None else high - self.base[m] + 1)
            dropped += vectors.truncate(keep)
        return dropped

    def write(self, items: list[Embedded]) -> None:
        self._buffer.extend(items)

    def commit(self) -> int:
        """Make the buffered items durable: vectors, then store rows. Returns how many were committed."""
        items, self._buffer = self._buffer, []
        if not items:
            return 0
        ids = {m: self._append(m, [getattr(e, m) for e in items]) for m in MODALITIES}
        self.store.add_items(self.archive_id, [
            NewItem(e.pending.item, e.pending.content_hash,
                    image_vector_id=ids["image"][i], text_vector_id=ids["text"][i])
            for i, e in enumerate(items)
        ])
        self.written += len(items)
        return len(items)

    def _append(self, modality: str, vectors: list[np.ndarray | None]) -> list[int | None]:
        present = [v for v in vectors if v is not None]
        if not present:
            return [None] * len(vectors)
        base = self.base[modality]
        new_ids = iter(self.vectors[modality].append(np.stack(present)))
        return [base + next(new_ids) if v is not None else None for v in vectors]

    def finalize(self) -> IndexManifest:
        """Bring each FAISS index up to its vector file, save it under a new name, swap in the manifest, then
        delete the files the old manifest named."""
        self.commit()
        self.manifest.version += 1
        counts = self.store.counts()
        for modality in MODALITIES:
            if self.vectors[modality].count():
                entry = self._sync_index(modality)
                entry.live = counts[modality]
                self.manifest.modalities[modality] = entry
        self.manifest.items = counts["items"]
        self.manifest.updated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_manifest(self.files.path, self.manifest)
        remove_unreferenced(self.files.path, self.manifest)
        return self.manifest

    def _sync_index(self, modality: str) -> ModalityEntry:
        index_file = faiss_file_name(modality, self.manifest.version)
        vectors_file = self.vectors[modality].path.name
        current = self.manifest.modalities.get(modality)
        old_path = self.files.file(current.index_file) if current is not None else None
        vectors = self.vectors[modality].read()
        wanted = self.factory or ann.choose_factory(len(vectors), self.manifest.dim)
        existing = self._load(old_path, current) if old_path is not None and old_path.exists() else None
        trained = current.trained_count if current is not None else None
        if (existing is None or needs_rebuild(existing, wanted, len(vectors), forced=self.factory is not None)
                or (self.retrain and drifted(existing.index, trained))):
            index = ann.build(vectors, wanted)  # memory-mapped: trained on a sample, added in shards
            trained = len(vectors) if ann.nlist_of(index.factory) else None
        else:
            index = existing
            index.add(vectors[index.ntotal:])
        path = self.files.file(index_file)
        ann.save(index, path)
        count = index.ntotal
        return ModalityEntry(factory=index.factory, count=count, index_file=index_file,
                             vectors_file=vectors_file, checksum=sha256_file(path), nprobe=index.nprobe,
                             id_base=self.base[modality],
                             vectors_checksum=rows_checksum(self.vectors[modality].path, self.manifest.dim, count),
                             list_sizes=ann.list_sizes(index.index), trained_count=trained)

    @staticmethod
    def _load(path: Path, entry: ModalityEntry) -> ann.AnnIndex | None:
        """The saved index, or None when it does not match the manifest (then it is rebuilt from the vectors)."""
        if sha256_file(path) != entry.checksum:
            return None
        try:
            return ann.load(path, entry.factory, entry.nprobe)
        except RuntimeError:  # faiss's error for an unreadable file; the vectors are the source of truth
            return None


def drifted(index, trained_count: int | None) -> bool:
    """IVF lists out of balance (``ann.IMBALANCE_RETRAIN``) or the collection grown past ``ann.GROWTH_RETRAIN``
    times what the quantiser was trained on: ``index --retrain`` then trains again."""
    imbalance = ann.imbalance(index)
    if imbalance is None:
        return False
    grown = trained_count is not None and index.ntotal > ann.GROWTH_RETRAIN * trained_count
    return imbalance > ann.IMBALANCE_RETRAIN or grown


def needs_rebuild(existing: ann.AnnIndex, wanted: str, n: int, forced: bool) -> bool:
    if existing.ntotal > n:  # an index ahead of its vector file cannot be trusted; rebuild from the vectors
        return True
    if forced:
        return existing.factory != wanted
    if ann.factory_class(existing.factory) != ann.factory_class(wanted):
        return True
    have, want = ann.nlist_of(existing.factory), ann.nlist_of(wanted)
    return have is not None and want is not None and want >= 2 * have
