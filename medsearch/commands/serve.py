"""`medsearch serve`: the search page and JSON API over one index (FastAPI + uvicorn, the `serve` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from medsearch.commands.options import DbOpt, IndexOpt, ModelOpt, ModeOpt
from medsearch.errors import MissingExtra

SERVE_HINT = "pip install 'medsearch[serve]'"


def _require_serve_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        raise MissingExtra(f"`medsearch serve` needs {exc.name}, which is not installed", hint=SERVE_HINT) from exc


def serve_command(
    index: IndexOpt,
    host: Annotated[str, typer.Option(help="address to listen on; anything but loopback needs --token")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
    token: Annotated[str | None, typer.Option(help="access token clients must send (Authorization: Bearer T)",
                                              envvar="MEDSEARCH_TOKEN")] = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="largest image upload accepted, in MB")] = 20,
    mode: ModeOpt = None,
    max_decoded_mb: Annotated[int, typer.Option(
        min=1, help="refuse (413) an upload whose header declares more decoded pixel data than this, in MB")] = 128,
    max_concurrent_decodes: Annotated[int, typer.Option(
        min=1, help="uploads decoded at the same time (memory: about this x (max decoded + 50 MB))")] = 2,
    decode_max_side: Annotated[int, typer.Option(
        min=64, help="uploads are decoded reduced to at most this many pixels a side")] = 1024,
) -> None:
    """Serve the search page and API: text and image search, item detail, thumbnails, teaching-file export."""
    from medsearch.serve.settings import MB, ServeSettings, allowed_hosts_for, check_bind, listen_socket, url_of

    check_bind(host, token)
    if mode is not None:
        from medsearch.search import check_mode

        check_mode(mode)
    _require_serve_extra()
    import uvicorn

    from medsearch.search import open_index
    from medsearch.serve.app import create_app
    from medsearch.serve.services import warm_up

    # Bound first, so that a port in use is one line before the index is opened, and so that the line below names
    # the port served (--port 0: the free port the system chose); connections wait until uvicorn serves.
    listening = listen_socket(host, port)
    # Opened and warmed here, before uvicorn starts, so that a missing index or model is one line, not a
    # traceback from the lifespan. The app closes it on shutdown.
    try:
        opened = open_index(index, model=model, db_url=db)
        warm_up(opened)
    except BaseException:
        listening.close()
        raise
    settings = ServeSettings(token=token or None, max_upload_bytes=max_upload_mb * MB,
                             allowed_hosts=allowed_hosts_for(host), default_mode=mode,
                             max_decoded_bytes=max_decoded_mb * MB, max_concurrent_decodes=max_concurrent_decodes,
                             decode_max_side=decode_max_side)
    from medsearch.commands.query import warn_if_reanalysis_needed

    warn_if_reanalysis_needed(opened)  # /api/info says it too ("analysis")
    typer.echo(f"serving {index} on {url_of(host, listening)}  (API docs: /docs)", err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(opened, settings), log_level="warning"))
    server.run(sockets=[listening])
