"""Terminal output for the teaching options of `medsearch query` and for `medsearch draft`."""

from __future__ import annotations

import typer


def _short(text: str | None, width: int = 70) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def print_cases(hits, header: str | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if header:
        console.print(escape(header))
    if not hits:
        console.print("no results")
        return
    table = Table()
    for name in ("rank", "score", "case", "diagnosis / title", "images", "findings"):
        table.add_column(name, overflow="fold")
    for hit in hits:
        images = ", ".join(f"{i.key} ({i.score:.2f})" for i in hit.items)
        table.add_row(str(hit.rank), f"{hit.score:.3f}", escape(hit.case), escape(_short(hit.diagnosis or hit.title, 40)),
                      escape(f"{images} of {hit.n_items}"),
                      escape(_short(hit.sections.get("findings") or (hit.items[0].text if hit.items else ""))))
    console.print(table)


def print_draft(draft) -> None:
    typer.echo(draft.text())
