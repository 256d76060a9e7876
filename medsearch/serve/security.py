"""Access token (Bearer header or the session cookie the page sets) and security headers."""

from __future__ import annotations

import hmac
import logging

from fastapi import Request

from medsearch.serve.errors import ApiError, error_response
from medsearch.serve.services import get_services

log = logging.getLogger("medsearch.serve")

COOKIE = "medsearch_token"

# The page loads nothing from elsewhere and runs no inline script.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)
# /docs (Swagger UI, served from local assets) needs its inline start-up script; still nothing from elsewhere.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs",)


def token_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.cookies.get(COOKIE)


def require_token(request: Request) -> None:
    """Router dependency: with a configured token, every /api call except health must present it."""
    expected = get_services(request).settings.token
    if expected and not token_matches(expected, presented_token(request)):
        raise ApiError(401, "unauthorized", "a valid access token is required (Authorization: Bearer TOKEN)")


async def security_headers(request: Request, call_next):
    """The outermost layer of the app: every response, errors included, leaves with these headers."""
    try:
        response = await call_next(request)
    except Exception:  # noqa: BLE001 - an unhandled bug: logged; the client gets the JSON 500 *with* the headers
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = error_response(500, "server_error", "internal server error (see the server log)")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    docs = request.url.path.startswith(DOCS_PATHS)
    response.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
    return response
