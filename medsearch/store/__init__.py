"""The metadata store: items, their image/text vector ids, labels and facets in SQL (SQLite or PostgreSQL).

``Filters``, ``NewItem`` and ``ItemRecord`` are plain dataclasses and import nothing heavy; ``Store`` (which
imports SQLAlchemy and Alembic) loads on first access, so search and serve code can import filters cheaply.
"""

from __future__ import annotations

from medsearch.store.filters import Filters
from medsearch.store.records import ItemRecord, NewItem

__all__ = ["Filters", "ItemRecord", "NewItem", "Store"]


def __getattr__(name: str):
    if name == "Store":
        from medsearch.store.store import Store

        return Store
    raise AttributeError(f"module 'medsearch.store' has no attribute {name!r}")
