"""Access token (Bearer header or the session cookie the page sets) and security headers."""

from __future__ import annotations

import hmac

from fastapi import Request

from medsearch.serve.errors import ApiError

COOKIE = "medsearch_token"

# The page loads nothing from elsewhere and runs no inline script. /docs (Swagger UI) is left alone.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


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
    expected = request.app.state.settings.token
    if expected and not token_matches(expected, presented_token(request)):
        raise ApiError(401, "unauthorized", "a valid access token is required (Authorization: Bearer TOKEN)")


async def security_headers(request: Request, call_next):
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if not request.url.path.startswith(DOCS_PATHS):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
