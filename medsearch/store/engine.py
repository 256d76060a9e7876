"""Database URL -> SQLAlchemy engine, with connection failures turned into StoreError with a hint."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from medsearch.errors import StoreError

POSTGRES_HINT = "is PostgreSQL running? pip install 'medsearch[postgres]'"
SQLITE_HINT = "check that the folder exists and is writable"
URL_HINT = ("give sqlite:///PATH/meta.sqlite or postgresql+psycopg://USER@HOST/DB (leave out --db for the index's "
            "own store)")


SQLITE_DAMAGED_HINT = ("the file is damaged or is not an SQLite database: restore it from a backup or rebuild the "
                       "index (`medsearch index ... --rebuild`)")
# words of SQLite's own messages -> what the user can do (the first that matches wins)
SQLITE_CAUSES = (
    (("file is not a database", "malformed", "disk image", "not a medsearch"), SQLITE_DAMAGED_HINT),
    (("readonly", "read-only", "unable to open", "permission", "access"), SQLITE_HINT),
)


def hint_for(url: str, exc: BaseException | None = None) -> str:
    """What the user can do about a store that failed to open: by the URL's database, then SQLite's words."""
    if url.startswith("postgres"):
        return POSTGRES_HINT
    if not url.startswith("sqlite"):  # not a URL, or a database medsearch does not support (mysql://)
        return URL_HINT
    reason = str(getattr(exc, "orig", None) or exc or "").lower()
    for words, hint in SQLITE_CAUSES:
        if any(word in reason for word in words):
            return hint
    return SQLITE_HINT


def _json_dumps(value) -> str:
    return json.dumps(value, default=str)  # Paths and dates in extra become strings rather than errors


def _sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` (no driver named) -> ``postgresql+psycopg://``, the driver the
    ``postgres`` extra installs; anything else is returned unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; ``sqlite://`` and ``sqlite:///:memory:`` share one in-memory connection."""
    try:
        parsed = make_url(normalise_url(url))
        options: dict = {"json_serializer": _json_dumps}
        if parsed.get_backend_name() == "sqlite":
            options["connect_args"] = {"check_same_thread": False}
            if parsed.database in (None, "", ":memory:"):
                options["poolclass"] = StaticPool
        else:
            options["pool_pre_ping"] = True
        if parsed.get_driver_name() == "psycopg":
            # no server-side prepared statements: their generic plans scan a whole table for `key IN (2,000 keys)`
            options["connect_args"] = {"prepare_threshold": None}
        engine = create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise StoreError(f"cannot open store {safe_url(url)}: {exc}", hint=hint_for(url)) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_foreign_keys)
    return engine


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def first_line(exc: DBAPIError) -> str:
    """The driver's own message, first line only (SQLAlchemy appends the statement and a link)."""
    reason = str(exc.orig if exc.orig is not None else exc).strip()
    return reason.splitlines()[0] if reason else type(exc).__name__


def connection_error(url: str, exc: DBAPIError) -> StoreError:
    return StoreError(f"cannot connect to store {safe_url(url)}: {first_line(exc)}", hint=hint_for(url, exc))
