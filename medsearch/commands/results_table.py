"""The terminal table of search hits (rank, score, why it matched, path, highlighted snippet)."""

from __future__ import annotations

WIDE_TABLE = 110  # from this console width on, the table also shows the dense and lexical scores and the finding


def first_line(text: str | None, width: int = 90) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


# safe header tags (medsearch.imaging.metadata.SAFE_KEYWORDS) that say what an item without text shows
DESCRIBED_BY = ("BodyPartExamined", "StudyDescription", "SeriesDescription", "ViewPosition")


def described(result) -> str:
    """What an item without text is, from its modality and safe header tags: "CT · CHEST · CT THORAX"."""
    parts = [result.modality, *(str(result.extra.get(tag)) for tag in DESCRIBED_BY if result.extra.get(tag))]
    return " · ".join(dict.fromkeys(part for part in parts if part))


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
    text_width = min(text_room, max(4, *(len(r.snippet or first_line(r.text, 2 * text_room) or described(r))
                                         for r in results)))
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
    """The hit's snippet with the matched terms in bold (or the first line of its text; for an item without
    text, its modality and header description, dimmed)."""
    from rich.markup import escape

    if not result.snippet:
        if not (result.text or "").strip() and described(result):  # an image without text: what it shows
            return f"[dim]{escape(described(result))}[/dim]"
        return escape(first_line(result.text, width))
    out, last = [], 0
    for a, b in sorted(result.highlights):
        if a >= last:
            out += [escape(result.snippet[last:a]), "[bold yellow]", escape(result.snippet[a:b]), "[/bold yellow]"]
            last = b
    out.append(escape(result.snippet[last:]))
    return "".join(out)
