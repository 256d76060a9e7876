"""`medsearch query`: search an index by text or by image; a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medsearch.errors import BadQuery

from medsearch.commands.options import (DbOpt, DeviceOpt, IndexOpt, JsonOpt, KOpt, LabelOpt, LicenceOpt, ModalityOpt,
                                        ModelOpt, ModeOpt, SplitOpt, item_filters)
from medsearch.commands.query_teaching import check_teaching_options, teaching_query
from medsearch.commands.results_table import print_results, shown_image_path
from medsearch.targets import resolve_target


def query_command(
    text: Annotated[Optional[str], typer.Argument(help="What to look for, e.g. 'PE' or 'left pleural effusion'.")] = None,
    index: IndexOpt = Path("index"),
    k: KOpt = 10,
    target: Annotated[
        Optional[str],
        typer.Option(help="What to return: images or reports (default: images for text, reports for --image)."),
    ] = None,
    image: Annotated[Optional[Path], typer.Option("--image", help="Query by this image (PNG, JPEG or DICOM).")] = None,
    no_ensemble: Annotated[bool, typer.Option("--no-ensemble", help="Embed the query alone, without prompt templates.")] = False,
    no_expand: Annotated[bool, typer.Option("--no-expand", help="Do not expand abbreviations and lay terms.")] = False,
    mode: ModeOpt = None,
    no_negation: Annotated[bool, typer.Option("--no-negation", help="Ignore negation/uncertainty (for comparison only).")] = False,
    modality: ModalityOpt = None,
    label: LabelOpt = None,
    split: SplitOpt = None,
    licence: LicenceOpt = None,
    group: Annotated[Optional[str], typer.Option("--group", help="'case': one hit per case (MedPix case, DICOM study, report, article) with its best images and the case text.")] = None,
    diverse: Annotated[bool, typer.Option("--diverse", help="Teaching mode: one hit per case/patient, near-duplicates spread (MMR).")] = False,
    different_diagnosis: Annotated[bool, typer.Option("--different-diagnosis", help="With --image: nearest cases whose diagnosis differs (look-alike differentials).")] = False,
    diagnosis: Annotated[Optional[str], typer.Option("--diagnosis", help="With --different-diagnosis: the diagnosis to differ from (default: the nearest case's).")] = None,
    json_output: JsonOpt = False,
    model: ModelOpt = None,
    db: DbOpt = None,
    device: DeviceOpt = "auto",
    show_paths: Annotated[bool, typer.Option("--show-paths", help="Also show file paths an archive does not vouch for (DICOM folder paths may carry patient names).")] = False,
) -> None:
    """Search an index by text (text -> images by default) or by --image (image -> reports by default)."""
    from medsearch.search import open_index

    if (text is None) == (image is None):
        raise BadQuery("give either a query text or --image PATH", hint="e.g. medsearch query 'pneumothorax' --index DIR")
    check_teaching_options(image, group, different_diagnosis, diagnosis)  # a teaching flag alone is refused too
    if image is not None:  # these shape a text query; an image query is searched by its vector alone
        text_only = [flag for flag, given in (("--mode", mode is not None), ("--no-expand", no_expand),
                                              ("--no-ensemble", no_ensemble), ("--no-negation", no_negation)) if given]
        if text_only:
            raise BadQuery(f"{', '.join(text_only)} apply to text queries, not to --image",
                           hint="leave them out, or search by words instead of --image")
    filters = item_filters(modality, label, split, licence)
    if group or diverse or different_diagnosis:
        with open_index(index, model=model, device=device, db_url=db) as idx:
            warn_if_reanalysis_needed(idx)
            teaching_query(idx, text=text, image=image, k=k, target=target, filters=filters, group=group,
                           diverse=diverse, different_diagnosis=different_diagnosis, diagnosis=diagnosis,
                           json_output=json_output)
        return
    with open_index(index, model=model, device=device, db_url=db) as idx:
        warn_if_reanalysis_needed(idx)
        search_target = resolve_target(target, image is not None, tuple(idx.manifest.modalities))
        if image is not None:
            outcome = idx.search(image=image, k=k, target=search_target, filters=filters)
        else:
            outcome = idx.search(
                text, k=k, target=search_target, ensemble=not no_ensemble, expand=not no_expand, filters=filters,
                mode=mode, negation=not no_negation,
            )
        if not outcome.hits and not filters.is_empty():  # say which filter value no item has, if one is
            for line in absent_filter_values(idx.store.facets(), filters):
                typer.echo(line, err=True)
    results, searched_for = list(outcome.hits), outcome.searched_for
    if json_output:
        from medsearch.commands import json_output as output

        rows = [r.to_dict() for r in results]
        for row, r in zip(rows, results):
            row["image_path"] = shown_image_path(r, show_paths)
        output.print_json(rows)
    else:
        print_results(results, searched_for if searched_for != text else None, show_paths)


def warn_if_reanalysis_needed(idx) -> None:
    """One line on stderr when the index's texts were analysed by other negation rules than this medsearch's."""
    warning = idx.analysis.warning(idx.path, idx.manifest.model_name)
    if warning is not None:
        typer.echo(warning, err=True)


def absent_filter_values(facets: dict[str, dict[str, int]], filters) -> list[str]:
    """One line per filter value that no item of the index has (``Filters.absent_from``), naming the values it
    does have: why a filtered search found nothing, when that is why."""
    return filters.absent_notices(facets, option="--")
