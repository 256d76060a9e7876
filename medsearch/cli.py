"""`medsearch` command line: a thin layer over the Python API.

Each sub-command lives in ``medsearch/commands/<name>.py`` with a ``register(app)`` function; heavy imports
(torch, faiss, SQLAlchemy) happen inside the command bodies so that `medsearch --help` stays fast.
Domain errors become an exit code and one line that says how to fix the problem.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer._click.exceptions import ClickException  # typer vendors click; this is its usage-error base

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


COMMAND_MODULES = ("index", "query", "info", "models", "train", "bench", "serve", "classify")
COMMAND_MODULES += ("draft",)
COMMAND_MODULES += ("delete", "compact", "ls", "verify")  # index lifecycle

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"medsearch.commands.{_name}")
    except ModuleNotFoundError as exc:  # a command module not written yet; never hides a missing dependency
        if exc.name != f"medsearch.commands.{_name}":
            raise
        continue
    _module.register(app)


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
    except ClickException as exc:  # usage errors carry their own exit code and message
        exc.show()
        sys.exit(exc.exit_code)
