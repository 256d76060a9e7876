"""``Store``: the metadata store's public face. Opening it migrates the schema to the newest version."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from medsearch.errors import CaseNotFound, ItemNotFound, StoreError
from medsearch.store import cases, query, write
from medsearch.store.engine import connection_error, first_line, hint_for, make_engine, safe_url
from medsearch.store.filters import Filters
from medsearch.store.migrate import check_is_medsearch_store, upgrade
from medsearch.store.models import ArchiveRow, ItemRow
from medsearch.store.records import ItemRecord, NewItem


class Store:
    """Items, vector ids, labels and facets in SQLite (file or memory) or PostgreSQL.

        store = Store.open("sqlite:///idx/meta.sqlite")      # or postgresql+psycopg://user@host/db
        archive = store.archive_id("roco", "/data/roco", "roco")
        store.add_items(archive, [NewItem(Item(key="a1", text="..."), content_hash="...", text_vector_id=0)])
        store.records("text", [0])                            # {0: ItemRecord(...)}
    """

    def __init__(self, engine, url: str):
        self.engine = engine
        self.url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._writes = 0  # writes through this store, and changes another process announced (see changed)
        self._sentences: tuple[int, int] | None = None  # (self._writes when counted, full-text sentences)

    @classmethod
    def open(cls, url: str, create: bool = True) -> "Store":
        """Connect and bring the schema up to date (Alembic); StoreError with a hint when that fails.

        ``create=False`` (readers): a database without medsearch's schema (empty, or another program's) is an
        error, never silently given a fresh empty schema."""
        url = str(url)
        engine = make_engine(url)
        database = engine.url.database
        if not create and engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") \
                and not Path(database).is_file():  # connecting would create an empty file
            engine.dispose()
            raise StoreError(f"cannot open store {safe_url(url)}: no database file at {database}",
                             hint="point --db at an existing store, or leave --db out for the index's own")
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            engine.dispose()
            raise connection_error(url, exc) from exc
        try:
            with connection, connection.begin():
                if not create:
                    check_is_medsearch_store(connection, url)
                upgrade(connection)
        except StoreError:
            engine.dispose()
            raise
        except DBAPIError as exc:
            engine.dispose()
            raise StoreError(f"cannot open store {safe_url(url)}: {first_line(exc)}", hint=hint_for(url, exc)) from exc
        return cls(engine, url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)!r})"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors -> StoreError with a hint."""
        try:
            yield
        except OperationalError as exc:
            raise connection_error(self.url, exc) from exc
        except DBAPIError as exc:  # e.g. sqlite's "file is not a database" (a DatabaseError)
            raise StoreError(f"store {safe_url(self.url)}: {first_line(exc)}", hint=hint_for(self.url, exc)) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store {safe_url(self.url)}: {exc}") from exc

    def changed(self) -> None:
        """Another process has written this database (its writer swapped in a new manifest): what this store
        remembers of the database's contents (the number of full-text sentences) is read again."""
        self._writes += 1

    @contextmanager
    def _session(self, write_: bool = False) -> Iterator[Session]:
        with self._errors(), self._sessions() as session:
            if write_:
                try:
                    with session.begin():
                        yield session
                finally:
                    self._writes += 1
            else:
                yield session

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A plain connection for the statements a search runs on every query (no ORM session: its bookkeeping
        cost more than the full-text statements themselves)."""
        with self._errors(), self.engine.connect() as connection:
            yield connection

    def archive_id(self, name: str, root: str, manifest: str | None = None) -> int:
        """The id of archive ``name``, created on first use (root and manifest are updated when they change)."""
        with self._session(write_=True) as session:
            archive = session.scalar(select(ArchiveRow).where(ArchiveRow.name == name))
            if archive is None:
                archive = ArchiveRow(name=name, root=str(root), manifest=None if manifest is None else str(manifest))
                session.add(archive)
            else:
                archive.root = str(root)
                archive.manifest = None if manifest is None else str(manifest)
            session.flush()
            return archive.id

    def known_hashes(self, archive_id: int) -> dict[str, str]:
        """Item key -> content hash, for embedding only what is new or changed."""
        with self._session() as session:
            return dict(session.execute(
                select(ItemRow.key, ItemRow.content_hash).where(ItemRow.archive_id == archive_id)).all())

    def add_items(self, archive_id: int, records: list[NewItem]) -> None:
        """Add items in batches, one transaction; re-adding a key replaces that item's rows (its id stays)."""
        records = list(records)
        if not records:
            return
        with self._session(write_=True) as session:
            write.add_items(session, archive_id, records)

    def remove_items(self, archive_id: int, keys: list[str]) -> int:
        """Delete items by key (e.g. gone from the archive), so their vectors no longer match; returns the count."""
        keys = [str(key) for key in dict.fromkeys(keys)]
        if not keys:
            return 0
        with self._session(write_=True) as session:
            return write.remove_items(session, archive_id, keys)

    def remove_item_ids(self, item_ids) -> int:
        """Delete items by id (with their images, texts, labels), in one transaction; returns the count."""
        item_ids = [int(i) for i in dict.fromkeys(item_ids)]
        if not item_ids:
            return 0
        with self._session(write_=True) as session:
            return write.remove_item_ids(session, item_ids)

    def vector_ids(self, modality: str) -> np.ndarray:
        """Sorted int64 ids of the ``modality`` vectors that some item points at."""
        with self._session() as session:
            return query.vector_ids(session, modality)

    def has_items(self) -> bool:
        with self._session() as session:
            return session.scalar(select(ItemRow.id).limit(1)) is not None

    def vector_id_range(self, modality: str) -> tuple[int | None, int | None]:
        """(smallest, largest) ``modality`` vector id an item points at; (None, None) when none does."""
        with self._session() as session:
            return query.vector_id_range(session, modality)

    def renumber_vectors(self, mapping: dict) -> None:
        """{modality: (old ids, new ids)} applied in one transaction (``compact``)."""
        with self._session(write_=True) as session:
            for modality, (old, new) in mapping.items():
                write.renumber_vectors(session, query.vector_table(modality), old, new)

    def list_items(self, filters: Filters | None = None, keys=None, archive: str | None = None,
                   limit: int | None = None, offset: int = 0) -> list[ItemRecord]:
        """Items ordered by (archive, key), restricted by ``filters``, ``keys`` and ``archive`` name."""
        with self._session() as session:
            return query.list_items(session, filters, keys, archive, limit, offset)

    def records(self, modality: str, vector_ids) -> dict[int, ItemRecord]:
        """Vector id -> ItemRecord for the ids that have a row (``modality`` is "image" or "text")."""
        with self._reading() as connection:
            return query.records_for_vectors(connection, modality, vector_ids)

    def vector_items(self, modality: str) -> tuple[np.ndarray, np.ndarray]:
        """(vector ids, item ids) of every ``modality`` vector an item points at: the liveness map a search keeps
        per index snapshot (one statement, in place of a liveness query per search)."""
        with self._reading() as connection:
            return query.vector_items(connection, modality)

    def item(self, item_id: int) -> ItemRecord:
        """The item with this id; ItemNotFound when there is none."""
        try:
            item_id = int(item_id)
        except (TypeError, ValueError):
            raise StoreError(f"item id must be a whole number, not {item_id!r}",
                             hint="use an item_id from a search result") from None
        with self._session() as session:
            record = query.record_by_id(session, item_id)
        if record is None:
            raise ItemNotFound(f"no item with id {item_id} in this index")
        return record

    # -- cases (see medsearch/store/cases.py) ----------------------------------------------------------------

    def case_hashes(self, archive_id: int) -> dict[str, str]:
        with self._session() as session:
            return cases.case_hashes(session, archive_id)

    def item_case_keys(self, archive_id: int) -> set[str]:
        with self._session() as session:
            return cases.item_case_keys(session, archive_id)

    def add_cases(self, archive_id: int, records: list) -> None:
        """Insert or replace ``NewCase`` records by key, one transaction."""
        if records:
            with self._session(write_=True) as session:
                cases.add_cases(session, archive_id, list(records))

    def remove_cases(self, archive_id: int, keys) -> int:
        keys = [str(key) for key in dict.fromkeys(keys)]
        if not keys:
            return 0
        with self._session(write_=True) as session:
            return cases.remove_cases(session, archive_id, keys)

    def cases(self, pairs) -> dict:
        """(archive name, case key) -> CaseRecord, for the pairs that have a stored case."""
        with self._session() as session:
            return cases.cases_by_key(session, pairs)

    def case(self, archive: str, key: str):
        """One case by archive name and key; CaseNotFound when there is none."""
        found = self.cases([(archive, key)]).get((archive, key))
        if found is None:
            raise CaseNotFound(f"no case {key!r} in archive {archive!r}")
        return found

    def case_items(self, archive: str, key: str) -> list[ItemRecord]:
        with self._session() as session:
            return cases.case_items(session, archive, key)

    def items(self, item_ids) -> dict[int, ItemRecord]:
        """Item id -> ItemRecord for the ids that exist (one query per few thousand ids)."""
        with self._session() as session:
            return cases.records_by_item_ids(session, item_ids)

    def case_texts(self) -> dict:
        """(archive, case key) -> (case text, extra), for the lexical case search."""
        with self._session() as session:
            return cases.case_texts(session)

    def set_case_extras(self, extras: dict) -> None:
        """(archive name, case key) -> the case's new ``extra`` (its other fields are kept), one transaction."""
        if extras:
            with self._session(write_=True) as session:
                cases.set_case_extras(session, extras)

    def case_vectors(self, dim: int):
        with self._session() as session:
            return cases.case_vectors(session, dim)

    def allowed_vector_ids(self, modality: str, filters: Filters) -> np.ndarray:
        """Sorted int64 vector ids of ``modality`` ("image"/"text") whose items match ``filters``."""
        with self._session() as session:
            return query.allowed_vector_ids(session, modality, filters)

    def lexical_search(self, modality: str, clause, filters: Filters | None = None, limit: int = 100,
                       relaxed: bool = False) -> list[tuple[int, int, float]]:
        """[(item id, vector id of ``modality``, score)] of items whose text has a sentence matching ``clause`` (a
        medsearch.lexical.query.Clause; ``relaxed``: most of it, by information, see
        medsearch.lexical.query.relaxed_alternatives), best first. Scores are bm25 on SQLite
        and ts_rank on PostgreSQL: compare them within one store only."""
        from medsearch.store import lexical

        conditions = query.filter_conditions(filters) if filters is not None else []
        with self._reading() as connection:
            sentences = self._sentence_count(connection) if relaxed else None
            return lexical.search(connection, query.vector_table(modality), clause, conditions, limit, relaxed,
                                  sentences)

    def _sentence_count(self, connection: Connection) -> int:
        """The number of full-text sentences, which weighs a relaxed search's words: counting them scans the
        table (~25 ms at 2M sentences), so it is counted once per state of the database (see changed)."""
        from medsearch.store import lexical

        writes, known = self._writes, self._sentences  # read before counting: a write during the count makes
        if known is None or known[0] != writes:        # the answer stale, and the next search counts again
            known = self._sentences = (writes, lexical.sentence_count(connection))
        return known[1]

    def lexical_items(self, clauses) -> list[set[int]]:
        """Per clause, the ids of the items with a sentence matching it (any target, no filters, no ranking)."""
        from medsearch.store import lexical

        with self._reading() as connection:
            return lexical.items_matching(connection, clauses)

    def rebuild_lexical(self, advance=None) -> int:
        """Re-analyse every text into the full-text index (after the assertion rules change); returns the number
        of sentences indexed. One transaction per ``lexical.REANALYSE_ITEMS`` items, in id order: each item's rows
        are replaced at once (a search finds it by its old analysis or its new one, never by none), and the store
        is held one chunk at a time, so searches go on beside a long re-analysis (one transaction over every text
        held an SQLite store for the whole run). A kill keeps the chunks done. ``advance(n)``: told after each
        chunk of the ``n`` texts it analysed."""
        from medsearch.store import lexical
        from medsearch.store.models import LexicalSentence

        sentences, after = 0, None
        while True:
            texts = []
            with self._session(write_=True) as session:
                connection = session.connection()
                ids = lexical.item_ids_after(connection, after, lexical.REANALYSE_ITEMS)
                if not ids:
                    return sentences
                session.execute(delete(LexicalSentence).where(LexicalSentence.item_id.between(ids[0], ids[-1])))
                sentences += lexical.backfill(connection, ids, advance=texts.append)
            after = ids[-1]
            if advance is not None and sum(texts):
                advance(sum(texts))

    def analysable_texts(self) -> int:
        """The number of texts ``rebuild_lexical`` analyses."""
        from medsearch.store import lexical

        with self._reading() as connection:
            return lexical.analysable_texts(connection)

    def facets(self, label_limit: int | None = 100) -> dict[str, dict[str, int]]:
        """{"modalities", "labels" (the ``label_limit`` most frequent), "splits", "licences"}: value -> item
        count, most frequent first."""
        with self._session() as session:
            return query.facets(session, label_limit)

    def counts(self) -> dict[str, int]:
        """{"archives", "items", "image" (vectors), "text" (vectors), "labels" (distinct)}."""
        with self._session() as session:
            return query.counts(session)

    def item_count(self) -> int:
        """``counts()["items"]`` alone (without counting archives, vectors and distinct labels)."""
        with self._session() as session:
            return query.item_count(session)
