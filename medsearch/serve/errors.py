"""Every error leaves the server as JSON: {"error": {"status", "code", "message"}}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from medsearch import errors as domain


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Domain exception -> (HTTP status, code). The most specific class wins (checked in MRO order).
DOMAIN_STATUS: dict[type, tuple[int, str]] = {
    domain.ImageTooLarge: (413, "image_too_large"),
    domain.ImageLoadError: (422, "bad_image"),
    domain.BadItem: (422, "bad_item"),
    domain.BadQuery: (400, "bad_query"),
    domain.UnknownName: (400, "unknown_name"),
    domain.ItemNotFound: (404, "not_found"),
    domain.CaseNotFound: (404, "not_found"),
    domain.StoreError: (500, "store_error"),  # a database failure (unreachable, broken schema) stays a 5xx
    domain.IndexMismatch: (409, "index_mismatch"),
    domain.MedsearchError: (500, "server_error"),
}

# A domain error's hint names the CLI's option; over HTTP the same choice is a query parameter.
CLI_TO_HTTP = {"--diagnosis TEXT": "the diagnosis parameter (diagnosis=TEXT)"}


def http_wording(text: str) -> str:
    for option, parameter in CLI_TO_HTTP.items():
        text = text.replace(option, parameter)
    return text


HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large",
              415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status, headers=headers)


def _domain_status(exc: domain.MedsearchError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 500, "server_error"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(domain.MedsearchError)
    async def _domain(_: Request, exc: domain.MedsearchError):
        status, code = _domain_status(exc)
        return error_response(status, code, http_wording(exc.one_line()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path"))
        message = f"{where}: {first['msg']}" if where else first["msg"]
        return error_response(422, "invalid_request", message)
