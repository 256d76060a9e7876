"""`medsearch delete`: remove items from an index, by key or by filter, from every search path at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medsearch.commands.options import (ArchiveOpt, DbOpt, IndexOpt, LabelOpt, LicenceOpt, ModalityOpt, SplitOpt,
                                        item_filters)
from medsearch.errors import BadQuery, ItemNotFound


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
    """Delete items (by --key, or every item matching the filters); `compact` later reclaims their space. Exit 8
    when nothing was deleted (no key given is in the index, or no item matches the filters)."""
    from indexer.maintain import delete_items

    keys = list(key or [])
    if keys_file is not None:
        keys += _read_keys_file(keys_file)
    filters = item_filters(modality, label, split, licence)
    # keys given are never empty (_read_keys_file refuses a file without one), so None means none were given
    result = delete_items(index, keys=keys or None, filters=filters, archive=archive, db_url=db)
    if not result.deleted:  # a mistyped key or filter must not look like a done delete
        if result.not_found:
            raise ItemNotFound(f"none of the {len(result.not_found)} keys is in the index: nothing deleted",
                               hint=f"list its keys with `medsearch ls --index {index}`")
        raise ItemNotFound("no item matches the filters: nothing deleted",
                           hint=f"see the values the index has with `medsearch info --index {index}`")
    typer.echo(f"deleted {result.deleted} items from {index}")
    if result.not_found:
        shown = ", ".join(result.not_found[:10]) + (" ..." if len(result.not_found) > 10 else "")
        typer.echo(f"{len(result.not_found)} keys not in the index: {shown}", err=True)


def _read_keys_file(path: Path) -> list[str]:
    """The keys of a --keys-file, one a line. A file that cannot be read, or holds no key, is refused: with a
    filter or --archive beside it, an empty key list must not widen the delete to every matching item."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadQuery(f"cannot read --keys-file {path}: {reason}",
                       hint="give a text file with one item key per line (see `medsearch ls`)") from exc
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise BadQuery(f"--keys-file {path} holds no keys",
                       hint="give a text file with one item key per line (see `medsearch ls`), or leave it out")
    return keys
