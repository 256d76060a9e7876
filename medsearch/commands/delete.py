"""`medsearch delete`: remove items from an index, by key or by filter, from every search path at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medsearch.commands.options import ArchiveOpt, DbOpt, IndexOpt, LabelOpt, LicenceOpt, ModalityOpt, SplitOpt


def delete_command(
    index: IndexOpt,
    key: Annotated[Optional[list[str]], typer.Option("--key", help="Item key to delete (repeatable).")] = None,
    keys_file: Annotated[Optional[Path], typer.Option("--keys-file", help="File with one key per line.")] = None,
    modality: ModalityOpt = None,
    label: LabelOpt = None,
    split: SplitOpt = None,
    licence: LicenceOpt = None,
    archive: ArchiveOpt = None,
    db: DbOpt = None,
) -> None:
    """Delete items (by --key, or every item matching the filters); `compact` later reclaims their space."""
    from medsearch.store.filters import Filters

    from indexer.maintain import delete_items

    keys = list(key or [])
    if keys_file is not None:
        keys += [line.strip() for line in keys_file.read_text().splitlines() if line.strip()]
    filters = Filters(modality=modality, labels=list(label or []), split=split, licence=licence)
    result = delete_items(index, keys=keys or None, filters=filters, archive=archive, db_url=db)
    typer.echo(f"deleted {result.deleted} items from {index}")
    if result.not_found:
        shown = ", ".join(result.not_found[:10]) + (" ..." if len(result.not_found) > 10 else "")
        typer.echo(f"{len(result.not_found)} keys not in the index: {shown}", err=True)
