"""The FastAPI app factory. The index is injected: an open Index, or a function that opens one at start-up."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from typing import Callable

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from medsearch import __version__
from medsearch.serve.docs import DOCS_OPENAPI_URL, swagger_document
from medsearch.serve.errors import install_error_handlers
from medsearch.serve.routes import export, items, meta, search, teaching
from medsearch.serve.security import require_token, security_headers
from medsearch.serve.services import IndexLike, Services, warm_up
from medsearch.serve.settings import ServeSettings
from medsearch.serve.thumbnails import ThumbnailCache

STATIC_DIR = resources.files("medsearch.serve") / "static"
DOCS_ASSETS = "/docs/assets"  # Swagger UI from the swagger-ui-bundle package: /docs works offline


def _swagger_ui_dir() -> str:
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)


def create_app(index: IndexLike | Callable[[], IndexLike], settings: ServeSettings | None = None) -> FastAPI:
    """``index``: an open ``medsearch.search.Index``, or a zero-argument function that opens one when the server
    starts (the model and index then load, and warm up, once, in the lifespan). The app closes the index when it
    stops."""
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        opened = index() if callable(index) else index
        if opened is not index:
            warm_up(opened)
        app.state.services = Services(opened, settings, ThumbnailCache(settings.thumbnail_cache_bytes))
        try:
            yield
        finally:
            opened.close()

    app = FastAPI(title="medsearch", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Cross-modal medical image/report search over one index. The OpenAPI 3.1 "
                              "document for clients: /openapi.json.")
    install_error_handlers(app)
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    app.middleware("http")(security_headers)  # added last = outermost: its headers go on every response

    app.include_router(meta.router)
    protected = [Depends(require_token)]
    for router in (search.router, items.router, export.router, teaching.router):
        app.include_router(router, dependencies=protected)

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=_swagger_ui_dir()), name="docs-assets")

    @app.get(DOCS_OPENAPI_URL, include_in_schema=False)
    def docs_document():
        return swagger_document(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=DOCS_OPENAPI_URL, title="medsearch API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
        )

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(str(STATIC_DIR / "index.html"))

    return app
