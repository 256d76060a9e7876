"""Cases in the store: write a case's text and vector, read cases back, list a case's items.

A case row is keyed by (archive, key); its items are the archive's items whose ``case_key`` is that key. Case
vectors are float32 bytes in the row: cases are far fewer than images, so the whole set is read once and
searched exactly (see ``medsearch.teaching.cases``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from medsearch.store.models import ArchiveRow, CaseRow, ItemRow
from medsearch.store.query import _record_select, _to_records
from medsearch.store.records import ItemRecord

CHUNK = 500


@dataclass
class NewCase:
    key: str
    content_hash: str
    title: str | None = None
    diagnosis: str | None = None
    text: str | None = None
    sections: dict = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    split: str | None = None
    licence: str | None = None
    extra: dict = field(default_factory=dict)
    vector: np.ndarray | None = None

    @classmethod
    def from_case(cls, case, vector: np.ndarray | None = None) -> "NewCase":
        """From a ``medsearch.archives.case.Case``."""
        return cls(key=case.key, content_hash=case.content_hash(), title=case.title, diagnosis=case.diagnosis,
                   text=case.text(), sections=dict(case.ordered_sections()), labels=list(case.labels),
                   split=case.split, licence=case.licence, extra=dict(case.extra), vector=vector)


@dataclass
class CaseRecord:
    """One stored case. ``sections`` keeps its order (history, exam, findings, differential, diagnosis...)."""

    case_id: int
    archive: str
    key: str
    title: str | None
    diagnosis: str | None
    text: str | None
    sections: dict
    labels: list[str]
    split: str | None
    licence: str | None
    extra: dict

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def _case_select():
    return (select(CaseRow.id, ArchiveRow.name, CaseRow.key, CaseRow.title, CaseRow.diagnosis, CaseRow.text,
                   CaseRow.sections, CaseRow.labels, CaseRow.split, CaseRow.licence, CaseRow.extra)
            .join(ArchiveRow, ArchiveRow.id == CaseRow.archive_id))


def _to_case(row) -> CaseRecord:
    case_id, archive, key, title, diagnosis, text, sections, labels, split, licence, extra = row
    return CaseRecord(case_id, archive, key, title, diagnosis, text, dict(sections or {}), list(labels or []),
                      split, licence, dict(extra or {}))


def case_hashes(session: Session, archive_id: int) -> dict[str, str]:
    return dict(session.execute(select(CaseRow.key, CaseRow.content_hash)
                                .where(CaseRow.archive_id == archive_id)).all())


def item_case_keys(session: Session, archive_id: int) -> set[str]:
    """The distinct case keys the archive's stored items name."""
    rows = session.scalars(select(ItemRow.case_key)
                           .where(ItemRow.archive_id == archive_id, ItemRow.case_key.is_not(None))
                           .distinct())
    return set(rows)


def add_cases(session: Session, archive_id: int, cases: list[NewCase]) -> None:
    """Insert or replace cases by key (a replaced case keeps no old values)."""
    remove_cases(session, archive_id, [c.key for c in cases])
    rows = [{
        "archive_id": archive_id, "key": c.key, "content_hash": c.content_hash, "title": c.title,
        "diagnosis": c.diagnosis, "text": c.text, "sections": c.sections, "labels": c.labels, "split": c.split,
        "licence": c.licence, "extra": c.extra,
        "vector": None if c.vector is None else np.asarray(c.vector, dtype=np.float32).tobytes(),
    } for c in cases]
    for start in range(0, len(rows), CHUNK):
        session.execute(CaseRow.__table__.insert(), rows[start:start + CHUNK])


def remove_cases(session: Session, archive_id: int, keys: list[str]) -> int:
    removed = 0
    for start in range(0, len(keys), CHUNK):
        result = session.execute(delete(CaseRow).where(CaseRow.archive_id == archive_id,
                                                       CaseRow.key.in_(keys[start:start + CHUNK])))
        removed += result.rowcount or 0
    return removed


def cases_by_key(session: Session, pairs) -> dict[tuple[str, str], CaseRecord]:
    """(archive name, case key) -> CaseRecord for the pairs that have a case row."""
    wanted = sorted({(str(a), str(k)) for a, k in pairs})
    found = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        stmt = _case_select().where(tuple_(ArchiveRow.name, CaseRow.key).in_(chunk))
        for row in session.execute(stmt):
            record = _to_case(row)
            found[(record.archive, record.key)] = record
    return found


def case_by_id(session: Session, case_id: int) -> CaseRecord | None:
    row = session.execute(_case_select().where(CaseRow.id == int(case_id))).first()
    return _to_case(row) if row else None


def case_items(session: Session, archive: str, key: str) -> list[ItemRecord]:
    """Every item of one case, in key order."""
    stmt = (_record_select().where(ArchiveRow.name == archive, ItemRow.case_key == key).order_by(ItemRow.key))
    return _to_records(session, session.execute(stmt).all())


def records_by_item_ids(session: Session, item_ids) -> dict[int, ItemRecord]:
    wanted = sorted({int(i) for i in item_ids})
    rows = []
    for start in range(0, len(wanted), CHUNK):
        rows += session.execute(_record_select().where(ItemRow.id.in_(wanted[start:start + CHUNK]))).all()
    return {record.item_id: record for record in _to_records(session, rows)}


def case_vectors(session: Session, dim: int) -> tuple[list[tuple[str, str]], np.ndarray]:
    """([(archive, key)], (n, dim) float32) for every case with a vector of this dimension."""
    stmt = (select(ArchiveRow.name, CaseRow.key, CaseRow.vector).join(ArchiveRow, ArchiveRow.id == CaseRow.archive_id)
            .where(CaseRow.vector.is_not(None)).order_by(CaseRow.id))
    keys, vectors = [], []
    for archive, key, blob in session.execute(stmt):
        vector = np.frombuffer(blob, dtype=np.float32)
        if vector.shape[0] == dim:
            keys.append((archive, key))
            vectors.append(vector)
    return keys, (np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32))


def case_texts(session: Session) -> dict[tuple[str, str], tuple[str, dict]]:
    """(archive, key) -> (case text, extra): extra carries the lexical terms computed at index time."""
    stmt = (select(ArchiveRow.name, CaseRow.key, CaseRow.text, CaseRow.extra)
            .join(ArchiveRow, ArchiveRow.id == CaseRow.archive_id))
    return {(archive, key): (text or "", dict(extra or {})) for archive, key, text, extra in session.execute(stmt)}


def set_case_extras(session: Session, extras: dict[tuple[str, str], dict]) -> None:
    """Replace the ``extra`` of the cases named (archive name, case key); the rest of each case is kept."""
    archive_ids = dict(session.execute(select(ArchiveRow.name, ArchiveRow.id)).all())
    rows = [{"b_archive": archive_ids[archive], "b_key": key, "b_extra": extra}
            for (archive, key), extra in extras.items() if archive in archive_ids]
    table = CaseRow.__table__
    stmt = (update(table).where(table.c.archive_id == bindparam("b_archive"), table.c.key == bindparam("b_key"))
            .values(extra=bindparam("b_extra")))
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, rows[start:start + CHUNK])


def count_cases(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(CaseRow)) or 0)
