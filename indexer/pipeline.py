"""reader -> embedder -> writer, each a replaceable object, each timed; progress bar; a RunSummary at the end.

    import medsearch
    summary = medsearch.build_index(open_archive("demo"), "idx", load_encoder("fake"),
                                    medsearch.IndexOptions(limit=10, progress=False))

The encoder's ``model_id`` (its weights fingerprint) and the registry name it was loaded by (its
``ModelIdentity``) go into a new manifest; an existing index checks the encoder against them
(``IndexManifest.check_encoder``).

An item whose image cannot be decoded is skipped whole (Skipped(stage="decode")), text included, so a store
row always has every vector its item should have; a rerun tries it again.

Resumable: every ``FLUSH_ITEMS`` items or ``FLUSH_SECONDS`` seconds (whichever comes first) the writer makes
vectors and store rows durable, so a killed run loses at most that much work and a rerun embeds only what the
store lacks; vectors a killed run wrote without store rows are reclaimed by the next run, never counted.

Prune: a full read of an archive (no ``limit``) removes the store rows of keys the archive no longer yields
(``RunSummary.pruned``); their vectors become dead rows until ``medsearch compact``.

Analysis stamp: the manifest records the full-text analysis the store's texts were read with
(``medsearch.lexical.stamp``) when the run read every one of them: a new index, a rebuild, or ``reanalyse``
(a stage of the run, under the same lock: every stored text re-read into the full-text index, and the case
terms, with the running code's rules). A run that adds texts beside older ones keeps the older stamp; a store
with no item yet is stamped before the first one (a killed first run's rerun may have nothing left to write).

Rebuild: builds a complete new index in a directory beside the old one, then swaps the two directories in one
``renameat2(RENAME_EXCHANGE)``; the old index answers queries until then, and a kill leaves it untouched.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

from medsearch.archives.item import Skipped
from medsearch.errors import BadQuery, IndexMismatch, StoreError
from medsearch.index_dir import MODALITIES, IndexDir, IndexManifest, foreign_entries, read_manifest, write_manifest
from medsearch.progress import progress_display

from indexer.ann import new_index
from indexer.cases import index_cases, reanalyse_cases
from indexer.embed import DEFAULT_BATCH_SIZE, EmbeddedBatch, TorchEmbedder
from indexer.limits import check_counts
from indexer.lock import index_lock
from indexer.reader import ArchiveReader, Pending, ReadResult
from indexer.writer import IndexWriter, index_vector_files, open_index_dir

COMMIT_EVERY = 16  # at most this many batches per durable chunk
FLUSH_ITEMS = 256  # ... and at most this many items
FLUSH_SECONDS = 30.0  # ... and at most this much time since the last flush


class ItemSource(Protocol):
    """The reader stage: an archive's items, hashed, split into unchanged and pending (``indexer.reader``)."""

    def read(self, known_hashes: dict[str, str], on_item: Callable[[], None] | None = None) -> ReadResult: ...


class Embedder(Protocol):
    def embed(self, pending: Sequence[Pending]) -> Iterator[EmbeddedBatch]: ...


class Writer(Protocol):
    def write(self, items: list) -> None: ...
    def commit(self) -> int: ...
    def finalize(self) -> IndexManifest: ...


@dataclass
class IndexOptions:
    """How ``build_index`` runs. Every default is `medsearch index`'s."""

    db_url: str | None = None  # metadata database (default: meta.sqlite in the index directory)
    factory: str | None = None  # FAISS factory string, e.g. "IVF1024,PQ32" (default: chosen by size, indexer.ann)
    batch_size: int = DEFAULT_BATCH_SIZE  # items per encoder batch
    workers: int | None = None  # image decoding processes (default: by the encoder's device)
    limit: int | None = None  # index only the first N items of the archive (then nothing is pruned)
    rebuild: bool = False  # build a fresh index beside the existing one, then swap it in atomically
    prune: bool = True  # on a full read, remove the items the archive no longer has
    retrain: bool = False  # retrain IVF indexes whose lists drifted out of balance
    reanalyse: bool = False  # re-read every stored text into the full-text index (after the assertion rules change)
    progress: bool = True  # a progress bar (log lines when stderr is not a terminal)
    commit_every: int = COMMIT_EVERY  # flush at most every this many batches,
    flush_items: int = FLUSH_ITEMS  # ... items,
    flush_seconds: float = FLUSH_SECONDS  # ... or seconds
    source: ItemSource | None = None  # the reader stage (default: indexer.reader.ArchiveReader; then no prune)
    embedder: Embedder | None = None  # the embed stage (default: TorchEmbedder; see indexer.engines)

    def __post_init__(self) -> None:
        """Counts that cannot work are refused here, in one line, not deep in the decode loop (the least of each:
        ``indexer.limits``)."""
        check_counts(batch_size=self.batch_size, workers=self.workers, limit=self.limit)


@dataclass
class RunSummary:
    archive: str
    index_dir: str
    model_id: str
    seen: int = 0  # items the archive yielded (up to --limit)
    indexed: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    pruned: int = 0  # items removed because the archive no longer has them
    kept: int = 0  # items not pruned because this run read no usable item (it cannot tell what left the archive)
    reclaimed: int = 0  # orphan vectors of a killed run dropped before appending
    stage_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    factories: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # vectors per modality in the index
    cases: int = 0  # case records (history, findings, diagnosis) new or changed in this run
    reanalysed: int = 0  # stored texts re-read into the full-text index (``IndexOptions.reanalyse``)
    analysis: str | None = None  # the manifest's analysis stamp after the run (medsearch.lexical.stamp)

    @property
    def items_per_s(self) -> float:
        return self.indexed / self.total_seconds if self.total_seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "items_per_s": self.items_per_s}


class Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def stage(self, name: str) -> "_Stage":
        return _Stage(self, name)


class _Stage:
    def __init__(self, timer: Timer, name: str):
        self.timer, self.name = timer, name

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.timer.add(self.name, time.perf_counter() - self.start)


def build_index(archive, index_dir: str | Path, encoder, options: IndexOptions | None = None) -> RunSummary:
    """Index ``archive`` into ``index_dir`` with ``encoder``; only new or changed items are embedded.

    Raises IndexMismatch when the directory holds an index of another model (unless ``options.rebuild``).
    """
    options = options or IndexOptions()
    check_index_location(Path(index_dir), options.rebuild, options.db_url)
    if options.factory is not None:  # a factory FAISS cannot build is refused now, not after the embedding
        new_index(encoder.dim, options.factory)
    if options.rebuild:
        return rebuild_beside(archive, Path(index_dir), encoder, options)
    return _build(archive, Path(index_dir), encoder, options)


def check_index_location(index_dir: Path, rebuild: bool, db_url: str | None = None) -> None:
    """Refuse, before any work, an --index that cannot be an index directory: a file; a folder of other files
    that holds no index yet (the archive's own folder, a home directory); and, for --rebuild, any folder that
    holds files not the index's own, since the rebuild swaps the whole folder out and deletes it (an SQLite
    --db kept in the folder included: it counts as the index's only where the folder is kept)."""
    if index_dir.exists() and not index_dir.is_dir():
        raise BadQuery(f"--index {index_dir} is a file, not an index directory",
                       hint="give a new folder (it is created) or an existing index")
    if rebuild:
        check_rebuild_room(index_dir)
    foreign = foreign_entries(index_dir, None if rebuild else db_url)
    if not foreign:
        return
    shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
    if rebuild:
        raise BadQuery(f"--index {index_dir} holds files that are not the index's ({shown}); --rebuild replaces "
                       "the whole folder and would delete them", hint="move them out, or rebuild into a new --index")
    if not IndexDir(index_dir).manifest.exists():
        raise BadQuery(f"--index {index_dir} holds other files ({shown}) and no index",
                       hint="give a new or empty folder for the index (never the archive's own folder)")


def check_rebuild_room(index_dir: Path) -> None:
    """What a --rebuild needs beside the index: a folder above it that is not where this process stands (the
    swap would delete the working directory; "." has no name to put ".rebuild" after), and an
    ``<index>.rebuild`` that is absent or a killed rebuild's, since it is deleted before the build."""
    if Path.cwd().resolve().is_relative_to(index_dir.resolve()):
        raise BadQuery(f"--rebuild cannot swap out {index_dir}: it holds the current directory",
                       hint="run it from the folder above the index, with --index NAME")
    beside = rebuild_dir(index_dir)
    if (beside.exists() and not beside.is_dir()) or foreign_entries(beside):
        raise BadQuery(f"{beside} holds files that are not a killed rebuild's; --rebuild builds there and would "
                       "delete them", hint="move it away, or rebuild into a new --index")


def _build(archive, index_dir: Path, encoder, options: IndexOptions, reembed: bool = False,
           id_base: int = 0) -> RunSummary:
    from medsearch.snapshot import settle
    from medsearch.store import Store

    started = time.perf_counter()
    files = IndexDir(index_dir)
    summary = RunSummary(archive=archive.name, index_dir=str(index_dir), model_id=encoder.model_id)
    timer = Timer()
    with index_lock(index_dir):
        manifest = None  # read once, under the lock, and passed along
        if files.manifest.exists() or files.next_manifest.exists():
            manifest = read_manifest(index_dir) if files.manifest.exists() else None
            with Store.open(_db_of(files, options.db_url, manifest)) as store:
                # a killed compact: finished or undone before anything else
                manifest = settle(index_dir, store, manifest)
        manifest = open_index_dir(index_dir, encoder, options.db_url, manifest)
        with timer.stage("open"):
            store = Store.open(files.db_url(manifest=manifest))
        try:
            with timer.stage("open"):
                if not reembed:  # before this run adds its archive to a store that may be another index's
                    refuse_rows_without_vectors(files, manifest, store)
                stamp_empty_store(files, manifest, store)
                archive_id = store_archive_id(store, archive)
                known = store.known_hashes(archive_id)
            writer = IndexWriter(index_dir, manifest, store, archive_id, options.factory, id_base=id_base,
                                 retrain=options.retrain)
            summary.reclaimed = writer.reclaim_orphans()
            full_read = options.limit is None and options.source is None
            source = options.source or ArchiveReader(archive, options.limit)
            embedder = options.embedder or TorchEmbedder(encoder, options.batch_size, options.workers)
            with progress_display(options.progress) as bar:
                reading = bar.add_task("reading", total=_size_hint(archive, options.limit))
                with timer.stage("read"):
                    result = source.read({} if reembed else known, on_item=lambda: bar.advance(reading))
                bar.update(reading, total=result.seen, completed=result.seen)
                summary.seen, summary.unchanged = result.seen, result.unchanged
                summary.skipped.extend(result.skipped)
                embedding = bar.add_task("embedding", total=len(result.pending))
                run_batches(embedder, writer, result.pending, timer, summary, options,
                            lambda n: bar.advance(embedding, n))
                if options.prune and full_read:
                    gone = [key for key in known if key not in result.keys]
                    if writer.written + result.unchanged:
                        summary.pruned = store.remove_items(archive_id, gone)
                    else:  # nothing read: an empty or unmounted root, a table cut to its header, every row skipped
                        summary.kept = len(known)
                if options.reanalyse:
                    with timer.stage("reanalyse"):
                        summary.reanalysed = reanalyse(store, bar)
                stamp_analysis(manifest, store, writer.written, options.reanalyse)
                bar.add_task("indexing", total=None)
                with timer.stage("index"):
                    manifest = writer.finalize()
                with timer.stage("cases"):
                    summary.cases = index_cases(archive, store, archive_id, encoder)
            summary.indexed = writer.written
        finally:
            store.close()
        write_skipped(files.skipped, summary.skipped)
    summary.analysis = manifest.analysis
    summary.factories = {m: e.factory for m, e in manifest.modalities.items()}
    summary.counts = {m: e.count if e.live is None else e.live for m, e in manifest.modalities.items()}
    summary.stage_seconds = timer.seconds
    summary.total_seconds = time.perf_counter() - started
    return summary


def reanalyse(store, bar) -> int:
    """Re-read every stored text into the full-text index, and every case's terms, with the running code's
    analysis (the texts a chunk of items per transaction, so searches go on beside it: ``Store.rebuild_lexical``;
    the case terms in one); returns the number of texts. Progress: a "re-analysing" task on ``bar``."""
    task = bar.add_task("re-analysing", total=store.analysable_texts())
    texts = 0

    def advance(n: int) -> None:
        nonlocal texts
        texts += n
        bar.advance(task, n)

    store.rebuild_lexical(advance)
    reanalyse_cases(store)
    return texts


def stamp_analysis(manifest: IndexManifest, store, written: int, reanalysed: bool) -> None:
    """Stamp the manifest with the running code's analysis when every text in the store was read by this run:
    re-analysed, or every stored item written now (a new index, a rebuild); otherwise the stamp it had stays (a
    store that holds texts of an older analysis beside the new ones is not current). Stamped because every item
    was written, the case terms are read again too: a case whose content did not change kept an older analysis's."""
    from medsearch.lexical.stamp import current_analysis

    if reanalysed or written >= store.item_count():
        if not reanalysed and manifest.analysis != current_analysis():
            reanalyse_cases(store)
        manifest.analysis = current_analysis()


def stamp_empty_store(files: IndexDir, manifest: IndexManifest, store) -> None:
    """A store that holds no item yet (a new index) gets every text it will hold from this run's analysis: the
    stamp is written now, before any item, so that a run killed before its end leaves it (the rerun may have
    nothing left to write, and ``stamp_analysis`` keeps the stamp it finds)."""
    from medsearch.lexical.stamp import current_analysis

    if manifest.analysis != current_analysis() and not store.has_items():
        manifest.analysis = current_analysis()
        write_manifest(files.path, manifest)


def _db_of(files: IndexDir, db_url: str | None, manifest: IndexManifest | None) -> str:
    """The store of a directory that may hold only a killed compact's next manifest (``manifest`` None)."""
    return files.db_url(db_url, manifest) if db_url or manifest is not None else files.default_db_url


REBUILD_SUFFIX = ".rebuild"


def rebuild_dir(index_dir: Path) -> Path:
    """Where ``--rebuild`` builds, beside the index: ``<index>.rebuild``, beside the folder itself when
    ``index_dir`` is a symlink (the swap then leaves the link as it is, pointing at the new index)."""
    real = Path(index_dir).resolve()
    return real.with_name(real.name + REBUILD_SUFFIX)


def rebuild_beside(archive, index_dir: Path, encoder, options: IndexOptions) -> RunSummary:
    """Build a fresh index in ``<dir>.rebuild`` beside ``index_dir`` and swap the two directories atomically.

    With the index's own meta.sqlite the old index is untouched until the swap. With an external ``--db`` the
    store is shared: the new build gives this archive's items new vector ids past every old one (never
    colliding), so the old directory drops them from its answers as they are replaced, never answers wrongly.
    """
    from medsearch.store import Store

    index_dir = Path(index_dir)
    beside = rebuild_dir(index_dir)
    db_url = options.db_url
    id_base = 0
    with index_lock(index_dir):
        if db_url is not None:
            with Store.open(db_url) as store:
                archive_id = store_archive_id(store, archive)
                keys = store.known_hashes(archive_id)
                others = store.item_count() - len(keys)
                if others:  # checked before anything is written
                    raise StoreError(f"--rebuild would leave {others} rows of other archives pointing at the old "
                                     "vectors", hint="rebuild into a fresh --db (or --index) instead")
                id_base = 1 + max((store.vector_id_range(m)[1] or -1) for m in MODALITIES)
        if beside.exists():
            shutil.rmtree(beside)  # a killed rebuild's leftovers
        summary = _build(archive, beside, encoder, options, reembed=db_url is not None, id_base=id_base)
        exchange_dirs(beside, index_dir.resolve())  # the folder, not a symlink to it (rebuild_dir)
        shutil.rmtree(beside)
    summary.index_dir = str(index_dir)
    return summary


RENAME_EXCHANGE = 2
AT_FDCWD = -100


def exchange_dirs(a: Path, b: Path) -> None:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); elsewhere, two renames."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
            return
    aside = b.with_name(b.name + ".old")
    b.rename(aside)
    a.rename(b)
    aside.rename(a)


def refuse_rows_without_vectors(files: IndexDir, manifest: IndexManifest, store) -> None:
    """A database that already holds items (of this archive or any other), with an index directory that holds
    no vectors (a fresh ``--index`` pointed at another index's ``--db``): the rows point at vectors elsewhere.
    Refused: trusting them would report every item "unchanged" and leave an index with no vectors; writing
    beside them would give this directory's vectors the ids the other directory's rows point at (each index
    then answers with the other's items); re-embedding would repoint rows the other directory still uses."""
    if any(vectors.count() for vectors in index_vector_files(files, manifest).values()) or not store.has_items():
        return
    counts = store.counts()
    raise IndexMismatch(
        f"{store!r} already holds {counts['items']} items ({counts['archives']} archive(s)) but {files.path} has "
        "none of their vectors: they belong to another index directory",
        hint="give each index its own --db, pass the --index that was built with this --db, or add --rebuild to "
             "re-embed this archive into this directory (the other one then stops matching)")


def store_archive_id(store, archive) -> int:
    manifest_path = getattr(getattr(archive, "manifest", None), "path", None)
    return store.archive_id(archive.name, str(getattr(archive, "root", "") or ""),
                            None if manifest_path is None else str(manifest_path))


def run_batches(embedder: Embedder, writer: Writer, pending: Sequence[Pending], timer: Timer,
                summary: RunSummary, options: IndexOptions, advance: Callable[[int], None]) -> None:
    """Embed and write; flush every ``options.commit_every`` batches, ``flush_items`` items or
    ``flush_seconds``."""
    batches = embedder.embed(pending)
    since, last_flush = 0, time.monotonic()
    for batch in batches:
        timer.add("decode_wait", batch.timings.decode_wait_s)
        timer.add("decode_workers", batch.timings.decode_worker_s)
        timer.add("embed", batch.timings.embed_s)
        summary.skipped.extend(batch.skipped)
        since += 1
        with timer.stage("write"):
            writer.write(batch.items)
            if (since >= options.commit_every or getattr(writer, "buffered", 0) >= options.flush_items
                    or time.monotonic() - last_flush >= options.flush_seconds):
                writer.commit()
                since, last_flush = 0, time.monotonic()
        advance(len(batch.items) + len(batch.skipped))
    with timer.stage("write"):
        writer.commit()


def write_skipped(path: Path, skipped: list[Skipped]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for s in skipped:
            f.write(json.dumps({"where": s.where, "reason": s.reason, "stage": s.stage}, ensure_ascii=False) + "\n")


def _size_hint(archive, limit: int | None) -> int | None:
    hint = archive.size_hint() if hasattr(archive, "size_hint") else None
    return min(hint, limit) if hint is not None and limit is not None else (hint or limit)
