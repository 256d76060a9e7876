"""`medsearch ls`: list an index's items (key, modality, split, start of the text), with filters or as JSON."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from medsearch.commands.options import (ArchiveOpt, DbOpt, IndexOpt, JsonOpt, LabelOpt, LicenceOpt, ModalityOpt,
                                        SplitOpt, item_filters)

TEXT_START = 60


def ls_command(
    index: IndexOpt,
    key: Annotated[Optional[list[str]], typer.Option("--key", help="Only this key (repeatable).")] = None,
    modality: ModalityOpt = None,
    label: LabelOpt = None,
    split: SplitOpt = None,
    licence: LicenceOpt = None,
    archive: ArchiveOpt = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many items.")] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many items first.")] = 0,
    json_output: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """List items in (archive, key) order."""
    from indexer.maintain import list_items

    records = list_items(index, filters=item_filters(modality, label, split, licence), keys=key or None,
                         archive=archive, limit=limit, offset=offset, db_url=db)
    rows = [as_row(r) for r in records]
    if json_output:
        from medsearch.commands import json_output as output

        output.print_json(rows)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("key", "modality", "split", "text", title=f"{len(rows)} items")
    for row in rows:
        table.add_row(*(escape(str(row[c] or "")) for c in ("key", "modality", "split", "text_start")))
    Console().print(table)


def as_row(record) -> dict:
    """What `ls` shows of an item (never the patient field)."""
    text = (record.text or "").strip().replace("\n", " ")
    return {"item_id": record.item_id, "archive": record.archive, "key": record.key, "modality": record.modality,
            "split": record.split, "licence": record.licence, "labels": record.labels,
            "has_image": record.image_vector_id is not None,
            "text_start": text if len(text) <= TEXT_START else text[:TEXT_START - 1] + "…"}
