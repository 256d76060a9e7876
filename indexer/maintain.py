"""Index maintenance: delete items, compact away dead vectors, list items, verify. The Python API of
`medsearch delete | compact | ls | verify`::

    from indexer.maintain import delete_items, compact, list_items, verify
    delete_items("idx", keys=["PMC123_fig1"])             # or filters=Filters(split="test"), archive="roco"
    compact("idx")                                         # rewrite vectors and FAISS without dead rows
    list_items("idx", filters=Filters(modality="CT"))      # ItemRecords, (archive, key) order
    verify("idx")                                          # VerifyReport: full checksums, every norm

Deleting removes the items' store rows (images, texts, labels) in one transaction: every search path resolves
vector ids through those rows (ANN, exact rescoring, pre-filter's allowed ids) and lexical search reads the
texts rows, so a deleted item is gone from all of them at once. Its vectors stay, dead, until ``compact``.

``compact`` writes a new generation: new vector files and FAISS indexes holding only live vectors, with ids
past every old one; then ``manifest.next.json``; then renumbers the store's vector ids in one transaction; then
swaps the manifest (``medsearch.snapshot`` finishes or undoes a compact killed between those steps).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medsearch.errors import BadQuery
from medsearch.index_dir import (
    NEXT_MANIFEST,
    IndexDir,
    IndexManifest,
    ModalityEntry,
    faiss_file_name,
    fsync_dir,
    read_manifest,
    remove_unreferenced,
    sha256_file,
    vectors_file_name,
    write_manifest,
)
from medsearch.integrity import VerifyReport, rows_checksum, store_url, verify_index
from medsearch.snapshot import current_manifest, settle
from medsearch.store.filters import Filters

from indexer import ann
from indexer.lock import index_lock
from indexer.vectors import VectorFile


@dataclass
class DeleteResult:
    deleted: int
    not_found: list[str] = field(default_factory=list)  # keys asked for that are not in the index


@dataclass
class CompactResult:
    before: dict[str, int]  # vectors per modality before
    after: dict[str, int]  # (= live vectors) after
    generation: int
    seconds: float

    @property
    def dropped(self) -> int:
        return sum(self.before.values()) - sum(self.after.values())


def _open_store(index_dir: Path, db_url: str | None, manifest: IndexManifest | None = None):
    """The store of an existing index (a database without medsearch's schema is an error, never made anew);
    ``manifest``: the directory's, when the caller has read it (else its store URL is read from the directory)."""
    from medsearch.store import Store

    return Store.open(store_url(index_dir, db_url, manifest), create=False)


def delete_items(index_dir, keys=None, filters: Filters | dict | None = None, archive: str | None = None,
                 db_url: str | None = None) -> DeleteResult:
    """Delete the items with these keys and/or matching ``filters`` (and ``archive``), at once for every search."""
    if isinstance(filters, dict):
        filters = Filters(**filters)
    if filters is not None and filters.is_empty():
        filters = None
    keys = None if keys is None else [str(k) for k in keys]
    if not keys and filters is None and archive is None:
        raise BadQuery("say what to delete", hint="give --key KEY (repeatable) or a filter (--split, --modality, ...)")
    index_dir = Path(index_dir)
    with index_lock(index_dir, create=False):
        manifest = read_manifest(index_dir)  # IndexNotFound before anything else; read once, under the lock
        with _open_store(index_dir, db_url, manifest=manifest) as store:
            manifest = settle(index_dir, store, manifest)
            records = store.list_items(filters=filters, keys=keys, archive=archive)
            deleted = store.remove_item_ids([r.item_id for r in records])
            _record_counts(index_dir, manifest, store)
    found = {r.key for r in records}
    return DeleteResult(deleted, [k for k in (keys or []) if k not in found])


def _record_counts(index_dir: Path, manifest: IndexManifest, store) -> None:
    """Write the manifest again with the store's live counts (files unchanged)."""
    counts = store.counts()
    for modality, entry in manifest.modalities.items():
        entry.live = counts.get(modality, 0)
    manifest.items = counts["items"]
    manifest.version += 1
    write_manifest(index_dir, manifest)


def list_items(index_dir, filters: Filters | dict | None = None, keys=None, archive: str | None = None,
               limit: int | None = None, offset: int = 0, db_url: str | None = None):
    """ItemRecords in (archive, key) order."""
    if isinstance(filters, dict):
        filters = Filters(**filters)
    with _open_store(Path(index_dir), db_url) as store:
        return store.list_items(filters=filters, keys=keys, archive=archive, limit=limit, offset=offset)


def compact(index_dir, db_url: str | None = None, factory: str | None = None) -> CompactResult:
    """Rewrite vector files and FAISS indexes with live vectors only (see the module docstring)."""
    started = time.perf_counter()
    index_dir = Path(index_dir)
    files = IndexDir(index_dir)
    with index_lock(index_dir, create=False):
        manifest = read_manifest(index_dir)  # read once, under the lock
        with _open_store(index_dir, db_url, manifest=manifest) as store:
            manifest = settle(index_dir, store, manifest)
            if factory is not None:  # refused before any file is written
                ann.new_index(manifest.dim, factory)
            live = {m: store.vector_ids(m) for m in manifest.modalities}
            # nothing dead and no new factory asked for: nothing to rewrite
            if factory is None and all(len(live[m]) == e.count
                                       and VectorFile(files.file(e.vectors_file), manifest.dim).count() == e.count
                                       for m, e in manifest.modalities.items()):
                counts = {m: e.count for m, e in manifest.modalities.items()}
                return CompactResult(counts, counts, manifest.generation, time.perf_counter() - started)
            new = IndexManifest.from_dict(json.loads(manifest.to_json()))
            new.generation += 1
            new.version += 1
            mapping, before = {}, {}
            for modality, entry in manifest.modalities.items():
                before[modality] = entry.count
                new.modalities[modality], new_ids = _compact_modality(index_dir, new, modality, entry,
                                                                      live[modality], factory)
                mapping[modality] = (live[modality], new_ids)
            counts = store.counts()
            new.items = counts["items"]
            write_manifest(index_dir, new, NEXT_MANIFEST)
            store.renumber_vectors(mapping)  # the commit point: from here the store is on the new generation
            files.next_manifest.replace(files.manifest)
            fsync_dir(index_dir)
            remove_unreferenced(index_dir, new)
    return CompactResult(before, {m: e.count for m, e in new.modalities.items()}, new.generation,
                         time.perf_counter() - started)


def _compact_modality(index_dir: Path, new: IndexManifest, modality: str, entry: ModalityEntry, live: np.ndarray,
                      factory: str | None) -> tuple[ModalityEntry, np.ndarray]:
    files = IndexDir(index_dir)
    old = VectorFile(files.file(entry.vectors_file), new.dim)
    rows_total = old.count()
    rows = live - entry.id_base
    if len(rows) and (rows.min() < 0 or rows.max() >= rows_total):
        from medsearch.errors import IndexCorrupt

        raise IndexCorrupt(f"the store points at {modality} vectors outside {entry.vectors_file}")
    vectors = np.asarray(old.read()[rows], dtype=np.float32) if len(rows) else np.zeros((0, new.dim), np.float32)
    id_base = entry.id_base + rows_total  # past every id this generation (or any before it) gave out
    index_file, vectors_file = faiss_file_name(modality, new.version), vectors_file_name(modality, new.generation)
    _write_vectors(files.file(vectors_file), vectors)
    wanted = factory or ann.choose_factory(len(vectors), new.dim)
    index = _reuse_training(files.file(entry.index_file), entry, wanted, vectors) if factory is None else None
    trained = entry.trained_count
    if index is None:
        if ann.nlist_of(wanted) and len(vectors) < ann.MIN_POINTS_PER_LIST * ann.nlist_of(wanted):
            wanted = "Flat"  # too few live vectors left to train that many lists
        index = ann.build(vectors, wanted)
        trained = len(vectors) if ann.nlist_of(index.factory) else None
    ann.save(index, files.file(index_file))
    result = ModalityEntry(factory=index.factory, count=len(vectors), index_file=index_file,
                           vectors_file=vectors_file, checksum=sha256_file(files.file(index_file)),
                           nprobe=index.nprobe, id_base=id_base, live=len(vectors),
                           vectors_checksum=rows_checksum(files.file(vectors_file), new.dim, len(vectors)),
                           list_sizes=ann.list_sizes(index.index), trained_count=trained)
    return result, id_base + np.arange(len(vectors), dtype=np.int64)


def _reuse_training(path: Path, entry: ModalityEntry, wanted: str, vectors: np.ndarray) -> ann.AnnIndex | None:
    """The old IVF index emptied and refilled with the live vectors (its trained quantiser kept: at 100k vectors
    training is nearly all of a compact's time), when the size still calls for about the same lists; else None."""
    have, want = ann.nlist_of(entry.factory), ann.nlist_of(wanted)
    if not have or not want or ann.factory_class(entry.factory) != ann.factory_class(wanted):
        return None
    if not 0.5 <= want / have < 2:
        return None
    try:
        index = ann.load(path, entry.factory, entry.nprobe)
    except RuntimeError:  # unreadable: train a new one from the vectors
        return None
    index.index.reset()
    index.add(vectors)
    return index


def _write_vectors(path: Path, vectors: np.ndarray) -> None:
    tmp = path.with_suffix(".npy.tmp")
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(vectors, dtype="<f4"))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def verify(index_dir, db_url: str | None = None) -> VerifyReport:
    """The full check: checksums of every file, every vector's norm, store ids inside the vector files."""
    index_dir = Path(index_dir)
    # no lock: a compact may swap the manifest meanwhile, so the current one is read again once the store is open
    with _open_store(index_dir, db_url, manifest=read_manifest(index_dir)) as store:
        manifest = current_manifest(index_dir, store)
        return verify_index(index_dir, manifest, store)
