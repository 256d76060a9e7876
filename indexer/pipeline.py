"""reader -> embedder -> writer, each a replaceable object, each timed; progress bar; a RunSummary at the end.

    from indexer.pipeline import build_index
    summary = build_index(open_archive("demo"), "idx", load_encoder("fake"))

An item whose image cannot be decoded is skipped whole (Skipped(stage="decode")), text included, so a store
row always has every vector its item should have; a rerun tries it again.

Resumable: every ``commit_every`` batches the writer makes vectors and store rows durable, so a killed run
loses at most one chunk and a rerun embeds only what the store lacks.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

from medsearch.archives.item import Skipped
from medsearch.errors import IndexMismatch, StoreError
from medsearch.index_dir import IndexManifest, default_db_url

from indexer.cases import index_cases
from indexer.embed import DEFAULT_BATCH_SIZE, EmbeddedBatch, TorchEmbedder
from indexer.lock import index_lock
from indexer.reader import ArchiveReader, Pending, ReadResult
from indexer.writer import SKIPPED_FILE, IndexWriter, clear_index_dir, open_index_dir

COMMIT_EVERY = 16  # batches per durable chunk (1,024 items at the default batch size)


class Reader(Protocol):
    def read(self, known_hashes: dict[str, str], on_item: Callable[[], None] | None = None) -> ReadResult: ...


class Embedder(Protocol):
    def embed(self, pending: Sequence[Pending]) -> Iterator[EmbeddedBatch]: ...


class Writer(Protocol):
    def write(self, items: list) -> None: ...
    def commit(self) -> int: ...
    def finalize(self) -> IndexManifest: ...


@dataclass
class RunSummary:
    archive: str
    index_dir: str
    model_id: str
    seen: int = 0  # items the archive yielded (up to --limit)
    indexed: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    factories: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # vectors per modality in the index
    cases: int = 0  # case records (history, findings, diagnosis) new or changed in this run

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


def build_index(
    archive,
    index_dir: str | Path,
    encoder,
    db_url: str | None = None,
    factory: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    device: str | None = None,
    limit: int | None = None,
    rebuild: bool = False,
    model_name: str | None = None,
    commit_every: int = COMMIT_EVERY,
    progress: bool = True,
    reader: Reader | None = None,
    embedder: Embedder | None = None,
) -> RunSummary:
    """Index ``archive`` into ``index_dir`` with ``encoder``; only new or changed items are embedded.

    Raises IndexMismatch when the directory holds an index of another model (unless ``rebuild``).
    """
    from medsearch.store import Store

    started = time.perf_counter()
    index_dir = Path(index_dir)
    summary = RunSummary(archive=archive.name, index_dir=str(index_dir), model_id=encoder.model_id)
    timer = Timer()
    with index_lock(index_dir):
        if rebuild:
            clear_for_rebuild(index_dir, db_url, archive)
        manifest = open_index_dir(index_dir, encoder.model_id, model_name or encoder.model_id, encoder.dim, db_url)
        with timer.stage("open"):
            store = Store.open(manifest.db_url or default_db_url(index_dir))
        try:
            with timer.stage("open"):
                archive_id = store_archive_id(store, archive)
                known = store.known_hashes(archive_id)
            writer = IndexWriter(index_dir, manifest, store, archive_id, factory)
            refuse_rows_without_vectors(known, writer, archive.name, store)
            reader = reader or ArchiveReader(archive, limit)
            embedder = embedder or TorchEmbedder(encoder, batch_size, workers, device)
            with progress_bar(progress) as bar:
                reading = bar.add_task("reading", total=_size_hint(archive, limit))
                with timer.stage("read"):
                    result = reader.read(known, on_item=lambda: bar.advance(reading))
                bar.update(reading, total=result.seen, completed=result.seen)
                summary.seen, summary.unchanged = result.seen, result.unchanged
                summary.skipped.extend(result.skipped)
                embedding = bar.add_task("embedding", total=len(result.pending))
                run_batches(embedder, writer, result.pending, timer, summary, commit_every,
                            lambda n: bar.advance(embedding, n))
                bar.add_task("indexing", total=None)
                with timer.stage("index"):
                    manifest = writer.finalize()
                with timer.stage("cases"):
                    summary.cases = index_cases(archive, store, archive_id, encoder)
            summary.indexed = writer.written
        finally:
            store.close()
        write_skipped(index_dir / SKIPPED_FILE, summary.skipped)
    summary.factories = {m: e.factory for m, e in manifest.modalities.items()}
    summary.counts = {m: e.count for m, e in manifest.modalities.items()}
    summary.stage_seconds = timer.seconds
    summary.total_seconds = time.perf_counter() - started
    return summary


def clear_for_rebuild(index_dir: Path, db_url: str | None, archive) -> None:
    """Delete the index files; in an external database, this archive's rows (which point at those vectors)."""
    from medsearch.store import Store

    if db_url is not None:
        with Store.open(db_url) as store:
            archive_id = store_archive_id(store, archive)
            keys = list(store.known_hashes(archive_id))
            others = store.counts()["items"] - len(keys)
            if others:  # checked before anything is deleted
                raise StoreError(f"--rebuild would leave {others} rows of other archives pointing at deleted vectors",
                                 hint="rebuild into a fresh --db (or --index) instead")
            store.remove_items(archive_id, keys)
            store.remove_cases(archive_id, list(store.case_hashes(archive_id)))
    clear_index_dir(index_dir, default_db=db_url is None)


def refuse_rows_without_vectors(known: dict, writer: IndexWriter, archive_name: str, store) -> None:
    """A database that already holds this archive, with an index directory that holds none of its vectors (a
    fresh ``--index`` pointed at a shared ``--db``): the rows point at vectors elsewhere. Refused: trusting them
    would report every item "unchanged" and leave an index with no vectors; re-embedding would repoint rows that
    the other index directory still uses."""
    if known and not any(vectors.count() for vectors in writer.vectors.values()):
        raise IndexMismatch(
            f"{store!r} already holds archive {archive_name!r} ({len(known)} items) but {writer.index_dir} has "
            "none of its vectors: they belong to another index directory",
            hint="pass the --index that was built with this --db, use a fresh --db, or add --rebuild to re-embed "
                 "into this directory (the other one then stops matching)")


def store_archive_id(store, archive) -> int:
    manifest_path = getattr(getattr(archive, "manifest", None), "path", None)
    return store.archive_id(archive.name, str(getattr(archive, "root", "") or ""),
                            None if manifest_path is None else str(manifest_path))


def run_batches(embedder: Embedder, writer: Writer, pending: Sequence[Pending], timer: Timer,
                summary: RunSummary, commit_every: int, advance: Callable[[int], None]) -> None:
    batches = embedder.embed(pending)
    for number, batch in enumerate(batches, start=1):
        timer.add("decode_wait", batch.decode_wait_s)
        timer.add("decode_workers", batch.decode_worker_s)
        timer.add("embed", batch.embed_s)
        summary.skipped.extend(batch.skipped)
        with timer.stage("write"):
            writer.write(batch.items)
            if number % commit_every == 0:
                writer.commit()
        advance(len(batch.items) + len(batch.skipped))
    with timer.stage("write"):
        writer.commit()


def write_skipped(path: Path, skipped: list[Skipped]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for s in skipped:
            f.write(json.dumps(asdict(s), ensure_ascii=False) + "\n")


def _size_hint(archive, limit: int | None) -> int | None:
    hint = archive.size_hint() if hasattr(archive, "size_hint") else None
    return min(hint, limit) if hint is not None and limit is not None else (hint or limit)


def progress_bar(enabled: bool):
    """A rich bar on a terminal; periodic log lines (items, items/s, ETA) when stderr is not one."""
    from indexer.progress import progress_display

    return progress_display(enabled)
