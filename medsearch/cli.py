"""`medsearch` command line: a thin layer over the Python API.

Each sub-command lives in ``medsearch/commands/<name>.py`` as a module-level function (or a typer group), listed
in the tables below; the options they share are declared once in ``medsearch/commands/options.py``. Heavy imports
(torch, faiss, SQLAlchemy) happen inside the command bodies so that `medsearch --help` stays fast.
Domain errors become an exit code and one line that says how to fix the problem.
"""

from __future__ import annotations

import sys

import typer

from medsearch.commands import bench, classify, compact, delete, draft, index, info, ls, models, query, serve, train, verify
from medsearch.errors import MedsearchError

app = typer.Typer(
    name="medsearch",
    help="Cross-modal medical image/report search: index an archive, query it by text or image.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from medsearch import __version__

        typer.echo(f"medsearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Cross-modal medical image/report search: index an archive, query it by text or image."""


COMMANDS = {  # name -> the function that runs it
    "index": index.index_command,
    "query": query.query_command,
    "info": info.info_command,
    "train": train.train_command,
    "serve": serve.serve_command,
    "classify": classify.classify_command,
    "draft": draft.draft_command,
    # index lifecycle
    "delete": delete.delete_command,
    "compact": compact.compact_command,
    "ls": ls.ls_command,
    "verify": verify.verify_command,
}
GROUPS = {  # name -> a typer group of sub-commands
    "models": models.models_app,
    "bench": bench.bench_app,
}

for _name, _command in COMMANDS.items():
    app.command(_name)(_command)
for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except MedsearchError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors (bad option, missing argument) carry their exit code
        _show_usage_error(exc)
        sys.exit(exc.exit_code)


def _show_usage_error(exc: typer.TyperException) -> None:
    """A usage error as typer prints it: the usage line, a hint to --help, the message."""
    show = getattr(exc, "show", None)  # typer's usage errors can print themselves with the usage line
    if show is not None:
        show()
    else:
        typer.echo(f"Error: {exc.format_message()}", err=True)
