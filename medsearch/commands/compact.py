"""`medsearch compact`: rewrite an index's vector files and FAISS indexes without dead vectors, atomically."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from medsearch.commands.options import DbOpt, IndexOpt


def compact_command(
    index: IndexOpt,
    db: DbOpt = None,
    factory: Annotated[Optional[str], typer.Option(help="faiss factory for the new indexes (default: by size)")] = None,
) -> None:
    """Drop vectors of deleted and changed items; readers switch to the new files when it is done."""
    from indexer.maintain import compact

    result = compact(index, db_url=db, factory=factory)
    for modality, before in result.before.items():
        typer.echo(f"{modality}: {before} -> {result.after[modality]} vectors")
    typer.echo(f"dropped {result.dropped} dead vectors in {result.seconds:.2f} s (generation {result.generation})")
