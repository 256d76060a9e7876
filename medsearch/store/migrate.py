"""Bring a database to the newest schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "medsearch_alembic_version"  # its own name, so a shared database's other Alembic apps are untouched
_PG_MIGRATION_LOCK = 0x6D656473  # advisory lock key ("meds")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _lock_for_migration(connection: Connection) -> None:
    """Two processes opening a fresh database take turns: the second waits, then finds the schema current."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now; the DDL below joins this transaction


def upgrade(connection: Connection) -> None:
    """Migrate to head inside the caller's transaction. An up-to-date database is only read, never locked, so
    a read-only SQLite file opens fine."""
    if current_revision(connection) == head_revision():
        return
    _lock_for_migration(connection)
    command.upgrade(alembic_config(connection), "head")
