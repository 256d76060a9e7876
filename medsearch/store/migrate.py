"""Bring a database to the newest schema with the Alembic migrations shipped in this package.

Alembic is imported only when a database is behind: opening an up-to-date store (every query) reads the
version row with plain SQL, which keeps a cold `medsearch query` about 0.35 s faster.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "medsearch_alembic_version"  # its own name, so a shared database's other Alembic apps are untouched
_PG_MIGRATION_LOCK = 0x6D656473  # advisory lock key ("meds")


# The newest revision in migrations/versions; tests/test_store.py checks it against Alembic's own reading.
HEAD_REVISION = "0003"


def alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The head as Alembic computes it from the migration scripts (slow: imports Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _lock_for_migration(connection: Connection) -> None:
    """Two processes opening a fresh database take turns: the second waits, then finds the schema current."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now; the DDL below joins this transaction


def upgrade(connection: Connection) -> None:
    """Migrate to head inside the caller's transaction. An up-to-date database is only read, never locked, so
    a read-only SQLite file opens fine."""
    if current_revision(connection) == HEAD_REVISION:
        return
    from alembic import command

    _lock_for_migration(connection)
    command.upgrade(alembic_config(connection), "head")


def check_is_medsearch_store(connection: Connection, url: str) -> None:
    """StoreError unless the database holds medsearch's schema (for readers, which must never create one)."""
    from medsearch.errors import StoreError
    from medsearch.store.engine import safe_url

    if current_revision(connection) is None:
        tables = inspect(connection).get_table_names()
        what = "is empty" if not tables else f"holds another program's tables ({', '.join(sorted(tables)[:3])})"
        raise StoreError(f"store {safe_url(url)} {what}, not a medsearch metadata store",
                         hint="point --db at the index's own store, or rebuild the index (`medsearch index ... --rebuild`)")
