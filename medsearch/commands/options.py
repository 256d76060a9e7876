"""The options several commands share, declared once (``typing.Annotated`` aliases) so that a flag has one spelling,
one help text and one environment variable everywhere: ``--index`` ($MEDSEARCH_INDEX), ``--db`` ($MEDSEARCH_DB),
``--model``, ``--device``, ``--k``, ``--json`` and the item filters (which ``item_filters`` turns into the search's
``Filters``). A command gives the default: ``index: IndexOpt = Path("index")``, or none to make the option
required."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from indexer.limits import LEAST

INDEX_ENV = "MEDSEARCH_INDEX"
DB_ENV = "MEDSEARCH_DB"

IndexOpt = Annotated[Path, typer.Option("--index", help="Index directory.", envvar=INDEX_ENV)]
DbOpt = Annotated[Optional[str], typer.Option(
    "--db", help="Metadata database URL (default: the index's own, meta.sqlite in the index directory).",
    envvar=DB_ENV)]
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", help="Model name (see `medsearch models`); default: medsearch-default, or the index's own when "
                    "searching an index (another model is refused).")]
DeviceOpt = Annotated[str, typer.Option(
    "--device", help="Where the encoder runs: auto (a GPU when there is one), cpu, cuda, cuda:N, mps, or another "
                     "device torch names (e.g. xpu); one this machine lacks is refused.")]
KOpt = Annotated[int, typer.Option("--k", "-k", min=1, help="Number of results (top k).")]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=LEAST["batch_size"], help="Items per encoder batch.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModeOpt = Annotated[Optional[str], typer.Option(
    "--mode", help="Text search mode: dense (embeddings), lexical (words of the texts) or hybrid (both; default).")]

# which items: the filters of query, draft, ls and delete
ModalityOpt = Annotated[Optional[str], typer.Option("--modality", help="Only items of this modality, e.g. CT, MR, CR.")]
LabelOpt = Annotated[Optional[list[str]], typer.Option(
    "--label", help="Only items with this label: a name (pneumothorax) or a code (C0032326); repeatable, all must match.")]
SplitOpt = Annotated[Optional[str], typer.Option("--split", help="Only this split: train, val or test.")]
LicenceOpt = Annotated[Optional[str], typer.Option("--licence", help="Only this licence; end with * for a prefix ('CC BY*').")]
ArchiveOpt = Annotated[Optional[str], typer.Option("--archive", help="Only this archive (its name as indexed).")]


def item_filters(modality: str | None = None, label: list[str] | None = None, split: str | None = None,
                 licence: str | None = None):
    """The ``Filters`` the item-filter options above name (a command without one of them leaves it out)."""
    from medsearch.store.filters import Filters

    return Filters(modality=modality, labels=list(label or []), split=split, licence=licence)
