"""`medsearch serve`: the search page and JSON API over one index (FastAPI + uvicorn, the `serve` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medsearch.errors import MissingExtra

SERVE_HINT = "pip install 'medsearch[serve]'"


def _require_serve_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        raise MissingExtra(f"`medsearch serve` needs {exc.name}, which is not installed", hint=SERVE_HINT) from exc


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        index: Annotated[Path, typer.Option("--index", help="index directory to serve")],
        host: Annotated[str, typer.Option(help="address to listen on; anything but loopback needs --token")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        token: Annotated[str | None, typer.Option(help="access token clients must send (Authorization: Bearer T)",
                                                  envvar="MEDSEARCH_TOKEN")] = None,
        db: Annotated[str | None, typer.Option("--db", help="metadata database URL, if not the index's own",
                                               envvar="MEDSEARCH_DB")] = None,
        model: Annotated[str | None, typer.Option(help="model name; must be the one the index was built with")] = None,
        max_upload_mb: Annotated[int, typer.Option(help="largest image upload accepted, in MB")] = 20,
        mode: Annotated[str | None, typer.Option("--mode", help="default text search mode: dense, lexical or hybrid (default)")] = None,
    ) -> None:
        """Serve the search page and API: text and image search, item detail, thumbnails, teaching-file export."""
        from medsearch.serve.settings import MB, ServeSettings, allowed_hosts_for, check_bind

        check_bind(host, token)
        if mode is not None:
            from medsearch.search import check_mode

            check_mode(mode)
        _require_serve_extra()
        import uvicorn

        from medsearch.search import open_index
        from medsearch.serve.app import create_app
        from medsearch.serve.services import warm_up

        # Opened and warmed here, before uvicorn starts, so that a missing index or model is one line, not a
        # traceback from the lifespan. The app closes it on shutdown.
        opened = open_index(index, model=model, db_url=db)
        warm_up(opened)
        settings = ServeSettings(token=token or None, max_upload_bytes=max_upload_mb * MB,
                                 allowed_hosts=allowed_hosts_for(host), default_mode=mode)
        typer.echo(f"serving {index} on http://{host}:{port}/  (API docs: /docs)", err=True)
        uvicorn.run(create_app(opened, settings), host=host, port=port, log_level="warning")
