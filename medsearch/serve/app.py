"""The FastAPI app factory. The index is injected: an open Index, or a function that opens one at start-up."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from typing import Callable

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from medsearch import __version__
from medsearch.serve.errors import install_error_handlers
from medsearch.serve.routes import export, items, meta, search
from medsearch.serve.security import require_token, security_headers
from medsearch.serve.services import Services, warm_up
from medsearch.serve.settings import ServeSettings
from medsearch.serve.thumbnails import ThumbnailCache

STATIC_DIR = resources.files("medsearch.serve") / "static"


def create_app(index: object | Callable[[], object], settings: ServeSettings | None = None) -> FastAPI:
    """``index``: an object with the medsearch.search.Index methods, or a zero-argument function that opens
    one when the server starts (the model and index then load once, in the lifespan). The app closes the
    index when it stops."""
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        opened = index
        if callable(index) and not hasattr(index, "search_text"):
            opened = index()
            warm_up(opened)
        app.state.services = Services(opened, settings, ThumbnailCache(settings.thumbnail_cache_bytes))
        try:
            yield
        finally:
            close = getattr(opened, "close", None)
            if close is not None:
                close()

    app = FastAPI(title="medsearch", version=__version__, lifespan=lifespan,
                  description="Cross-modal medical image/report search over one index.")
    app.state.settings = settings
    install_error_handlers(app)
    app.middleware("http")(security_headers)
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))

    app.include_router(meta.router)
    protected = [Depends(require_token)]
    for router in (search.router, items.router, export.router):
        app.include_router(router, dependencies=protected)

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(str(STATIC_DIR / "index.html"))

    return app
