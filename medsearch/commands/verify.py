"""`medsearch verify`: the full integrity check of an index (checksums, every vector norm, store ids)."""

from __future__ import annotations

import typer

from medsearch.commands.options import DbOpt, IndexOpt


def verify_command(index: IndexOpt, db: DbOpt = None) -> None:
    """Check every file against the manifest's checksums; exit 7 when anything is wrong."""
    from medsearch.errors import IndexCorrupt

    from indexer.maintain import verify

    report = verify(index, db_url=db)
    for line in report.checked:
        typer.echo(f"ok  {line}")
    for line in report.problems:
        typer.echo(f"BAD {line}")
    if not report.ok:
        raise IndexCorrupt(f"{index}: {len(report.problems)} problems found (listed above)")
    typer.echo(f"{index}: all checks passed")
