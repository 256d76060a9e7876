"""`medsearch draft IMAGE`: a report draft from the findings of the most similar cases, each sentence cited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("draft")
    def draft_command(
        image: Annotated[Path, typer.Argument(help="The image to draft a report for (PNG, JPEG or DICOM).")],
        index: Annotated[Path, typer.Option("--index", help="Index directory.", envvar="MEDSEARCH_INDEX")] = Path("index"),
        cases: Annotated[int, typer.Option("--cases", min=1, help="Similar cases to draft from.")] = 5,
        sentences: Annotated[int, typer.Option("--sentences", min=1, help="Most findings sentences in the draft.")] = 6,
        min_score: Annotated[Optional[float], typer.Option("--min-score", help="Refuse below this similarity (default: chosen from the index, see docs).")] = None,
        modality: Annotated[Optional[str], typer.Option(help="Only cases of this modality.")] = None,
        split: Annotated[Optional[str], typer.Option(help="Only cases of this split.")] = None,
        licence: Annotated[Optional[str], typer.Option(help="Only this licence; end with * for a prefix.")] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print the draft as JSON.")] = False,
        model: Annotated[Optional[str], typer.Option(help="Model to query with (must be the index's).")] = None,
        db: Annotated[Optional[str], typer.Option("--db", help="Metadata database URL, if not the index's own.")] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    ) -> None:
        """Draft a report for IMAGE from its most similar cases: verbatim findings sentences, each citing its case
        (id, similarity, licence); negated findings stay negated; refused when no case is close enough."""
        from medsearch.search import Filters, open_index
        from medsearch.teaching import show
        from medsearch.teaching.draft import draft_report

        filters = Filters(modality=modality, split=split, licence=licence)
        with open_index(index, model=model, device=device, db_url=db) as idx:
            draft = draft_report(idx, image, filters=filters, cases=cases, min_score=min_score,
                                 max_sentences=sentences)
        if json_output:
            show.print_json(draft.to_dict())
        else:
            show.print_draft(draft)
