"""`medsearch draft IMAGE`: a report draft from the findings of the most similar cases, each sentence cited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medsearch.commands.options import (DbOpt, DeviceOpt, IndexOpt, JsonOpt, LicenceOpt, ModalityOpt, ModelOpt,
                                        SplitOpt, item_filters)


def draft_command(
    image: Annotated[Path, typer.Argument(help="The image to draft a report for (PNG, JPEG or DICOM).")],
    index: IndexOpt = Path("index"),
    cases: Annotated[int, typer.Option("--cases", min=1, help="Similar cases to draft from.")] = 7,
    sentences: Annotated[int, typer.Option("--sentences", min=1, help="Most findings sentences in the draft.")] = 6,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="Refuse below this similarity (default: chosen from the index, see docs).")] = None,
    modality: ModalityOpt = None,
    split: SplitOpt = None,
    licence: LicenceOpt = None,
    json_output: JsonOpt = False,
    model: ModelOpt = None,
    db: DbOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Draft a report for IMAGE from its most similar cases: verbatim findings sentences, each citing its case
    (id, similarity, licence); negated findings stay negated; refused when no case is close enough."""
    from medsearch.commands import json_output as output
    from medsearch.search import open_index
    from medsearch.teaching import show
    from medsearch.teaching.draft import draft_report

    filters = item_filters(modality, split=split, licence=licence)
    with open_index(index, model=model, device=device, db_url=db) as idx:
        draft = draft_report(idx, image, filters=filters, cases=cases, min_score=min_score,
                             max_sentences=sentences)
    if json_output:
        output.print_json(draft.to_dict())
    else:
        show.print_draft(draft)
