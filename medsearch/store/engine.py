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


def hint_for(url: str) -> str:
    return POSTGRES_HINT if url.startswith("postgres") else SQLITE_HINT


def _json_dumps(value) -> str:
    return json.dumps(value, default=str)  # Paths and dates in extra become strings rather than errors


def _sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; ``sqlite://`` and ``sqlite:///:memory:`` share one in-memory connection."""
    try:
        parsed = make_url(url)
        options: dict = {"json_serializer": _json_dumps}
        if parsed.get_backend_name() == "sqlite":
            options["connect_args"] = {"check_same_thread": False}
            if parsed.database in (None, "", ":memory:"):
                options["poolclass"] = StaticPool
        else:
            options["pool_pre_ping"] = True
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


def connection_error(url: str, exc: DBAPIError) -> StoreError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return StoreError(f"cannot connect to store {safe_url(url)}: {reason}", hint=hint_for(url))
