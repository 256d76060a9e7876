"""Batched writes: add or replace items with a few statements per chunk, never one round trip per row."""

from __future__ import annotations

from sqlalchemy import delete, select, text, tuple_, update
from sqlalchemy.orm import Session

from medsearch.errors import StoreError
from medsearch.privacy import PHI_KEYWORDS
from medsearch.store.bulk import insert_rows
from medsearch.store.cases import remove_cases
from medsearch.store.lexical import rows_for
from medsearch.store.models import Image, ItemRow, Label, LexicalSentence, TextRow
from medsearch.store.records import NewItem

ANALYZE_AFTER = 5000  # PostgreSQL: after this many items, refresh planner statistics (autovacuum lags behind)
CHUNK = 2000  # rows per statement batch; keeps IN lists well under every backend's parameter limit
_PHI_LOWER = {name.lower() for name in PHI_KEYWORDS}


def check_new_items(records: list[NewItem]) -> None:
    """Reject what must never be stored: items without a key, PHI keys in ``extra``."""
    for item in (record.item for record in records):
        if not item.key:
            raise StoreError("an item without a key cannot be stored", hint="every item needs its archive's id")
        phi = sorted(name for name in (item.extra or {}) if str(name).lower() in _PHI_LOWER)
        if phi:
            raise StoreError(
                f"item {item.key!r}: extra holds patient-identifying fields {', '.join(phi)}",
                hint="drop PHI before indexing (see medsearch.privacy.PHI_KEYWORDS)",
            )


def _unique_labels(labels) -> list[str]:
    return list(dict.fromkeys(str(label) for label in (labels or []) if str(label).strip()))


def _item_values(archive_id: int, record: NewItem) -> dict:
    item = record.item
    return {
        "archive_id": archive_id,
        "key": item.key,
        "content_hash": record.content_hash,
        "patient": item.patient,
        "split": item.split,
        "licence": item.licence,
        "modality": item.modality,
        "extra": dict(item.extra or {}),
        "case_key": item.case,
    }


def add_items(session: Session, archive_id: int, records: list[NewItem]) -> None:
    """Insert new keys and replace existing ones (the item keeps its id; its images, texts, labels are rewritten)."""
    check_new_items(records)
    latest = list({record.item.key: record for record in records}.values())  # a key given twice: the last one wins
    for start in range(0, len(latest), CHUNK):
        _add_chunk(session, archive_id, latest[start:start + CHUNK])
    if len(latest) >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE items, images, texts, labels"))


def remove_items(session: Session, archive_id: int, keys: list[str]) -> int:
    """Delete these keys' items with their images, texts and labels; returns how many items were removed."""
    removed = 0
    for start in range(0, len(keys), CHUNK):
        removed += remove_item_ids(session, list(_ids_for_keys(session, archive_id, keys[start:start + CHUNK]).values()))
    return removed


def remove_item_ids(session: Session, item_ids: list[int]) -> int:
    """Delete items by id with every row that hangs off them (labels, images, texts: the vector ids search
    resolves, and the text lexical search reads). The one place items are deleted."""
    removed, touched_cases = 0, set()
    for start in range(0, len(item_ids), CHUNK):
        ids = [int(i) for i in item_ids[start:start + CHUNK]]
        if ids:
            touched_cases.update(session.execute(select(ItemRow.archive_id, ItemRow.case_key)
                                                 .where(ItemRow.id.in_(ids), ItemRow.case_key.is_not(None))).all())
            for table in (Label, LexicalSentence, Image, TextRow, ItemRow):
                session.execute(delete(table).where((table.id if table is ItemRow else table.item_id).in_(ids)))
            removed += len(ids)
    _remove_emptied_cases(session, touched_cases)
    return removed


def _remove_emptied_cases(session: Session, pairs) -> None:
    """A case row whose last item was deleted goes too: a case is only shown through its items (one query per
    batch of touched cases for the ones still used, one delete per archive)."""
    pairs = sorted({(int(archive_id), str(case_key)) for archive_id, case_key in pairs})
    emptied: dict[int, list[str]] = {}
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start:start + CHUNK]
        used = {(int(a), str(k)) for a, k in session.execute(
            select(ItemRow.archive_id, ItemRow.case_key)
            .where(tuple_(ItemRow.archive_id, ItemRow.case_key).in_(chunk)).distinct())}
        for archive_id, case_key in chunk:
            if (archive_id, case_key) not in used:
                emptied.setdefault(archive_id, []).append(case_key)
    for archive_id, keys in emptied.items():
        remove_cases(session, archive_id, keys)


def renumber_vectors(session: Session, table, old_ids, new_ids) -> None:
    """vector_id old -> new for one vector table. Callers give new ids past every old one (no collisions)."""
    from sqlalchemy import bindparam

    pairs = [{"b_old": int(o), "b_new": int(n)} for o, n in zip(old_ids, new_ids) if int(o) != int(n)]
    stmt = update(table.__table__).where(table.__table__.c.vector_id == bindparam("b_old")).values(
        vector_id=bindparam("b_new"))
    for start in range(0, len(pairs), CHUNK):
        session.execute(stmt, pairs[start:start + CHUNK])


def _ids_for_keys(session: Session, archive_id: int, keys: list[str]) -> dict[str, int]:
    rows = session.execute(select(ItemRow.key, ItemRow.id)
                           .where(ItemRow.archive_id == archive_id, ItemRow.key.in_(keys)))
    return dict(rows.all())


def _add_chunk(session: Session, archive_id: int, chunk: list[NewItem]) -> None:
    keys = [record.item.key for record in chunk]
    ids = _ids_for_keys(session, archive_id, keys)
    if ids:
        old = list(ids.values())
        for table in (Label, LexicalSentence, Image, TextRow):
            session.execute(delete(table).where(table.item_id.in_(old)))
        session.execute(update(ItemRow),
                        [{"id": ids[r.item.key], **_item_values(archive_id, r)} for r in chunk if r.item.key in ids])
    fresh = [_item_values(archive_id, r) for r in chunk if r.item.key not in ids]
    if fresh:
        # bulk insert, then read the new ids back: RETURNING over many rows goes row by row on SQLite
        insert_rows(session, ItemRow.__table__, fresh)
        ids.update(_ids_for_keys(session, archive_id, [row["key"] for row in fresh]))

    images = [{"item_id": ids[r.item.key], "vector_id": r.image_vector_id,
               "path": None if r.item.image_path is None else str(r.item.image_path)}
              for r in chunk if r.item.image_path is not None or r.image_vector_id is not None]
    texts = [{"item_id": ids[r.item.key], "text": r.item.text, "vector_id": r.text_vector_id}
             for r in chunk if r.item.text is not None or r.text_vector_id is not None]
    labels = [{"item_id": ids[r.item.key], "label": label} for r in chunk for label in _unique_labels(r.item.labels)]
    sentences = [row for r in chunk if r.item.text for row in rows_for(ids[r.item.key], r.item.text)]  # full-text
    for table, rows in ((Image, images), (TextRow, texts), (Label, labels), (LexicalSentence, sentences)):
        insert_rows(session, table.__table__, rows)
