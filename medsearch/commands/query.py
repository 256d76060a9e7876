"""`medsearch query`: search an index by text or by image; a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medsearch.errors import BadQuery

# What --target accepts -> the vectors searched: one list for the CLI, the API and the Python API.
from medsearch.targets import TARGET_ALIASES as TARGET_NAMES  # noqa: E402


def resolve_target(name: str | None, image_query: bool, available=("image", "text")) -> str:
    """--target -> "image"/"text"; unset: reports for an image query, images for a text query, or whichever
    kind the index has when it holds only one (a report-only index answers text queries with reports)."""
    if name is None:
        preferred = "text" if image_query else "image"
        return preferred if preferred in available or not available else next(iter(available))
    try:
        return TARGET_NAMES[name.lower()]
    except KeyError:
        raise BadQuery(f"unknown target {name!r}", hint=f"choose one of: {', '.join(TARGET_NAMES)}") from None


def register(app: typer.Typer) -> None:
    @app.command("query")
    def query_command(
        text: Annotated[Optional[str], typer.Argument(help="What to look for, e.g. 'PE' or 'left pleural effusion'.")] = None,
        index: Annotated[Path, typer.Option("--index", help="Index directory.", envvar="MEDSEARCH_INDEX")] = Path("index"),
        k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of results.")] = 10,
        target: Annotated[
            Optional[str],
            typer.Option(help="What to return: images or reports (default: images for text, reports for --image)."),
        ] = None,
        image: Annotated[Optional[Path], typer.Option("--image", help="Query by this image (PNG, JPEG or DICOM).")] = None,
        no_ensemble: Annotated[bool, typer.Option("--no-ensemble", help="Embed the query alone, without prompt templates.")] = False,
        no_expand: Annotated[bool, typer.Option("--no-expand", help="Do not expand abbreviations and lay terms.")] = False,
        mode: Annotated[Optional[str], typer.Option("--mode", help="dense (embeddings), lexical (words of the texts) or hybrid (both; default).")] = None,
        no_negation: Annotated[bool, typer.Option("--no-negation", help="Ignore negation/uncertainty (for comparison only).")] = False,
        modality: Annotated[Optional[str], typer.Option(help="Only this modality, e.g. CT, MR, CR.")] = None,
        label: Annotated[Optional[list[str]], typer.Option("--label", help="Only items with this label: a name (pneumothorax) or a code (C0032326); repeatable, all must match.")] = None,
        split: Annotated[Optional[str], typer.Option(help="Only this split: train, val or test.")] = None,
        licence: Annotated[Optional[str], typer.Option(help="Only this licence; end with * for a prefix ('CC BY*').")] = None,
        group: Annotated[Optional[str], typer.Option("--group", help="'case': one hit per case (MedPix case, DICOM study, report, article) with its best images and the case text.")] = None,
        diverse: Annotated[bool, typer.Option("--diverse", help="Teaching mode: one hit per case/patient, near-duplicates spread (MMR).")] = False,
        different_diagnosis: Annotated[bool, typer.Option("--different-diagnosis", help="With --image: nearest cases whose diagnosis differs (look-alike differentials).")] = False,
        diagnosis: Annotated[Optional[str], typer.Option("--diagnosis", help="With --different-diagnosis: the diagnosis to differ from (default: the nearest case's).")] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print the results as a JSON list.")] = False,
        model: Annotated[Optional[str], typer.Option(help="Model to query with (must be the index's).")] = None,
        db: Annotated[Optional[str], typer.Option("--db", help="Metadata database URL, if not the index's own.", envvar="MEDSEARCH_DB")] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        show_paths: Annotated[bool, typer.Option("--show-paths", help="Also show file paths an archive does not vouch for (DICOM folder paths may carry patient names).")] = False,
    ) -> None:
        """Search an index by text (text -> images by default) or by --image (image -> reports by default)."""
        from medsearch.search import Filters, open_index

        if (text is None) == (image is None):
            raise BadQuery("give either a query text or --image PATH", hint="e.g. medsearch query 'pneumothorax' --index DIR")
        filters = Filters(modality=modality, labels=list(label or []), split=split, licence=licence)
        if group or diverse or different_diagnosis:
            from medsearch.teaching.query import teaching_query

            with open_index(index, model=model, device=device, db_url=db) as idx:
                teaching_query(idx, text=text, image=image, k=k, target=target, filters=filters, group=group,
                               diverse=diverse, different_diagnosis=different_diagnosis, diagnosis=diagnosis,
                               json_output=json_output)
            return
        with open_index(index, model=model, device=device, db_url=db) as idx:
            search_target = resolve_target(target, image is not None, tuple(idx.manifest.modalities))
            if image is not None:
                results = idx.search_image(image, k=k, target=search_target, filters=filters)
            else:
                results = idx.search_text(
                    text, k=k, target=search_target, ensemble=not no_ensemble, expand=not no_expand, filters=filters,
                    mode=mode, negation=not no_negation,
                )
            searched_for = idx.last_query if image is None else None
        if json_output:
            import json

            rows = [r.to_dict() for r in results]
            for row, r in zip(rows, results):
                row["image_path"] = shown_image_path(r, show_paths)
            typer.echo(json.dumps(rows, indent=2, default=str))
        else:
            print_results(results, searched_for if searched_for != text else None, show_paths)


WIDE_TABLE = 110  # from this console width on, the table also shows the dense and lexical scores and the finding


def first_line(text: str | None, width: int = 90) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def shown_image_path(result, show_paths: bool = False) -> str | None:
    """The image path, when the archive vouched for it (a path relative to its root in extra["image_relpath"],
    e.g. ROCO's images/NAME.jpg) or --show-paths asks; None otherwise (a DICOM folder path may name the patient)."""
    return result.image_path if show_paths or result.extra.get("image_relpath") else None


def display_path(result, show_paths: bool = False) -> str:
    if show_paths:
        return result.image_path or ""
    return result.extra.get("image_relpath") or ""


def print_results(results, searched_for: str | None = None, show_paths: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if searched_for:
        console.print(f"[dim]searched for: {escape(searched_for)}[/dim]")
    if not results:
        console.print("no results")
        return
    paths = [display_path(r, show_paths) for r in results]
    explained = any(r.mode for r in results) and console.width >= WIDE_TABLE
    rows = [(str(r.rank), f"{r.score:.3f}", *((_score(r.dense_score), _score(r.lexical_score), _decision(r))
                                              if explained else ()), r.key) for r in results]
    headers = ("rank", "score", *(("dense", "lexical", "finding") if explained else ()), "key")
    widths = [min(max(len(h), *(len(row[i]) for row in rows)), 24) for i, h in enumerate(headers)]
    room = max(console.width - sum(widths) - 3 * (len(widths) + 2) - 1, 24)  # left for path and text
    path_width = min(max(4, *map(len, paths)), max(12, int(room * 0.35)))
    paths = [p if len(p) <= path_width else "…" + p[-(path_width - 1):] for p in paths]  # the file name matters most
    text_room = max(room - path_width, 12)
    text_width = min(text_room, max(4, *(len(r.snippet or first_line(r.text, 2 * text_room)) for r in results)))
    table = Table()
    for header, width in zip(headers, widths):
        table.add_column(header, width=width, no_wrap=True, overflow="ellipsis")
    table.add_column("path", width=path_width, no_wrap=True, overflow="ellipsis")
    table.add_column("text", width=text_width, overflow="fold")  # up to two lines of the text's first line
    rows = [(*row, path) for row, path in zip(rows, paths)]
    for row, r in zip(rows, results):
        table.add_row(*map(escape, row), _snippet_markup(r, 2 * text_width))
    console.print(table)


def _score(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _decision(result) -> str:
    """The text's status for the query's findings: "asserted", "negated", ... (several: comma-separated)."""
    return ",".join(dict.fromkeys(result.assertion.values())) or "-"


def _snippet_markup(result, width: int) -> str:
    """The hit's snippet with the matched terms in bold (or the first line of its text)."""
    from rich.markup import escape

    if not result.snippet:
        return escape(first_line(result.text, width))
    out, last = [], 0
    for a, b in sorted(result.highlights):
        if a >= last:
            out += [escape(result.snippet[last:a]), "[bold yellow]", escape(result.snippet[a:b]), "[/bold yellow]"]
            last = b
    out.append(escape(result.snippet[last:]))
    return "".join(out)
