"""`medsearch index`: embed an archive into an index directory (only new or changed items on a rerun)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medsearch.commands.options import BatchSizeOpt, DbOpt, DeviceOpt, IndexOpt, ModelOpt

from indexer.limits import LEAST

SKIPPED_SHOWN = 20
STAGE_NOTES = {
    "open": "store connection, schema check, known content hashes",
    "read": "archive walk + content hashes",
    "decode_wait": "main process waiting for decoded batches",
    "decode_workers": "decode + transform, summed over workers (overlaps the rest)",
    "embed": "encoder",
    "write": "vector files + store rows",
    "index": "FAISS add/build + manifest",
    "cases": "case texts (history, findings, diagnosis) embedded and stored",
    "reanalyse": "every stored text re-read into the full-text index (--reanalyse)",
}


def index_command(
    manifest: Annotated[str, typer.Option(help="built-in archive name (roco, demo, ...) or a manifest .toml")],
    index: IndexOpt,
    root: Annotated[Optional[Path], typer.Option(help="archive folder (default: the manifest's; demo needs none)")] = None,
    model: ModelOpt = None,
    db: DbOpt = None,
    factory: Annotated[Optional[str], typer.Option(help="faiss factory string, e.g. 'IVF1024,PQ32' (default: chosen by size)")] = None,
    batch_size: BatchSizeOpt = 64,
    workers: Annotated[Optional[int], typer.Option(min=LEAST["workers"], help="image decoding processes (0 = in the main process; default: 0 on the CPU, up to 4 with a GPU)")] = None,
    device: DeviceOpt = "auto",
    limit: Annotated[Optional[int], typer.Option(min=LEAST["limit"], help="index only the first N items of the archive")] = None,
    show_paths: Annotated[bool, typer.Option("--show-paths", help="store and show file paths that may name a patient (DICOM folders; off by default)")] = False,
    rebuild: Annotated[bool, typer.Option(help="build a fresh index beside the existing one, then swap it in atomically (the old folder is deleted: refused when it holds files that are not the index's)")] = False,
    prune: Annotated[bool, typer.Option(help="on a full read (no --limit), remove items the archive no longer has")] = True,
    engine: Annotated[str, typer.Option(help="where decode and encode run: local, or ray (pip install 'medsearch\\[ray]')")] = "local",
    address: Annotated[Optional[str], typer.Option(help="--engine ray: cluster address (auto, ray://HOST:10001); default: a local Ray")] = None,
    actors: Annotated[Optional[int], typer.Option(min=LEAST["actors"], help="--engine ray: encoder actors (default: one per GPU, else 1)")] = None,
    retrain: Annotated[bool, typer.Option(help="retrain IVF indexes whose lists drifted out of balance (see indexer/ann.py)")] = False,
    reanalyse: Annotated[bool, typer.Option("--reanalyse", help="also re-read every stored text into the full-text index, with this medsearch's negation rules (after they change: `info` says when an index needs it)")] = False,
) -> None:
    """Index an archive: decode, embed, write vectors + FAISS + metadata; reruns embed only what changed."""
    from medsearch.archives import open_archive
    from medsearch.lexical.stamp import analysis_state
    from medsearch.models import load_encoder

    from indexer.engines import make_embedder
    from indexer.pipeline import IndexOptions, build_index

    archive = open_archive(manifest, root, show_paths=show_paths)
    encoder = load_encoder(model, device=device)
    embedder = make_embedder(engine, encoder, batch_size, workers, address, actors)
    options = IndexOptions(db_url=db, factory=factory, batch_size=batch_size, workers=workers, limit=limit,
                           rebuild=rebuild, prune=prune, retrain=retrain, reanalyse=reanalyse, embedder=embedder)
    summary = build_index(archive, index, encoder, options)
    print_summary(summary)
    if summary.skipped and archive.reader.hides_paths and not show_paths:  # a skipped file's key finds no file
        typer.echo(f"skipped {archive.name} files are named by their key, not their path (a path may name a "
                   "patient): rerun with --show-paths to see which files they are", err=True)
    warning = analysis_state(summary.analysis).warning(summary.index_dir, encoder.identity.name)
    if warning is not None:  # texts added beside older ones: the index still needs --reanalyse
        typer.echo(warning, err=True)
    check_outcome(summary)


def check_outcome(summary) -> None:
    """Exit non-zero (NothingIndexed, code 10) when the run left no usable item: no rows, or every row skipped.
    A run that skipped some rows succeeds and says how many on stderr."""
    from collections import Counter

    from medsearch.errors import NothingIndexed
    from medsearch.index_dir import IndexDir

    usable, skipped = summary.indexed + summary.unchanged, len(summary.skipped)
    listing = IndexDir(summary.index_dir).skipped
    kept = f"; the index keeps its {summary.kept} items (nothing pruned)" if summary.kept else ""
    if usable == 0 and skipped == 0:
        raise NothingIndexed(f"nothing indexed: archive {summary.archive} yielded no rows{kept}",
                             hint="check --root and the manifest's [source] table")
    if usable == 0:
        reason, count = Counter(s.reason.split(":")[0] for s in summary.skipped).most_common(1)[0]
        raise NothingIndexed(f"nothing indexed: all {skipped} rows were skipped ({count} as {reason!r}){kept}",
                             hint=f"fix the cause and rerun; every row and reason is in {listing}")
    if skipped:
        typer.echo(f"skipped {skipped} row(s), indexed or kept {usable}; reasons in {listing}", err=True)


def print_summary(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    from medsearch.index_dir import IndexDir

    console = Console()
    counts = Table("", "", title=f"indexed {summary.archive} into {summary.index_dir}", show_header=False)
    counts.add_row("model", summary.model_id)
    counts.add_row("items read", str(summary.seen))
    counts.add_row("indexed (new or changed)", str(summary.indexed))
    counts.add_row("unchanged", str(summary.unchanged))
    counts.add_row("skipped", str(len(summary.skipped)))
    if summary.cases:
        counts.add_row("cases (new or changed)", str(summary.cases))
    counts.add_row("pruned (gone from the archive)", str(summary.pruned))
    if summary.reanalysed:
        counts.add_row("texts re-analysed", str(summary.reanalysed))
    if summary.reclaimed:
        counts.add_row("orphan vectors reclaimed", str(summary.reclaimed))
    for modality, factory in summary.factories.items():
        counts.add_row(f"{modality} index", f"{factory}, {summary.counts[modality]} vectors")
    counts.add_row("items/s", f"{summary.items_per_s:.1f}")
    console.print(counts)

    stages = Table("stage", "seconds", "", title="stage times")
    for stage, seconds in summary.stage_seconds.items():
        stages.add_row(stage, f"{seconds:.2f}", STAGE_NOTES.get(stage, ""))
    stages.add_row("total", f"{summary.total_seconds:.2f}", "wall clock")
    console.print(stages)

    if summary.skipped:
        skipped = Table("where", "stage", "reason", title=f"skipped items ({len(summary.skipped)})")
        for s in summary.skipped[:SKIPPED_SHOWN]:
            skipped.add_row(s.where, s.stage, s.reason)
        console.print(skipped)
        more = len(summary.skipped) - SKIPPED_SHOWN
        if more > 0:
            console.print(f"... and {more} more")
        console.print(f"full list: {IndexDir(summary.index_dir).skipped}")
