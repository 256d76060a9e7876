"""Reads: records for vector ids (two queries), filter conditions, allowed vector ids, facets."""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import numpy as np
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from medsearch.archives.modality import UNKNOWN, canonical_modality, modality_spellings
from medsearch.concepts import FACET_OF_GROUP, concept_name, label_alternatives, vocabulary
from medsearch.errors import StoreError
from medsearch.store.filters import Filters
from medsearch.store.models import ArchiveRow, Image, ItemRow, Label, TextRow
from medsearch.store.records import ItemRecord

VECTOR_TABLES = {"image": Image, "text": TextRow}
CHUNK = 5000  # vector ids per IN list


def vector_table(modality: str):
    try:
        return VECTOR_TABLES[modality]
    except KeyError:
        raise StoreError(f"unknown vector kind {modality!r}", hint=f"choose one of: {', '.join(VECTOR_TABLES)}") from None


def _record_select(target=None):
    """Items with archive name, image and text. With ``target`` (Image or TextRow) the query starts from that
    table, so a vector-id lookup uses its index instead of scanning items."""
    columns = (ItemRow.id, ArchiveRow.name, ItemRow.key, Image.path, TextRow.text, ItemRow.patient, ItemRow.split,
               ItemRow.licence, ItemRow.modality, ItemRow.extra, Image.vector_id, TextRow.vector_id, ItemRow.case_key)
    if target is None:
        stmt = select(*columns).select_from(ItemRow)
        others = (Image, TextRow)
    else:
        stmt = select(*columns).select_from(target).join(ItemRow, ItemRow.id == target.item_id)
        others = tuple(table for table in (Image, TextRow) if table is not target)
    stmt = stmt.join(ArchiveRow, ArchiveRow.id == ItemRow.archive_id)
    for table in others:
        stmt = stmt.outerjoin(table, table.item_id == ItemRow.id)
    return stmt


@cache
def _records_by_vector(modality: str):
    """The record select by vector ids (an expanding ``ids`` parameter), built once: a search fetches records on
    every query, and building and keying the statement each time cost as much as running it."""
    table = vector_table(modality)
    return _record_select(table).where(table.vector_id.in_(bindparam("ids", expanding=True)))


_LABELS = (select(Label.item_id, Label.label).where(Label.item_id.in_(bindparam("ids", expanding=True)))
           .order_by(Label.item_id, Label.label))


def _labels_by_item(session: Session, item_ids: list[int]) -> dict[int, list[str]]:
    labels: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(item_ids), CHUNK):
        rows = session.execute(_LABELS, {"ids": item_ids[start:start + CHUNK]}).all()  # one fetch, not one per row
        for item_id, label in rows:
            labels[item_id].append(label)
    return labels


def _to_records(session: Session, rows) -> list[ItemRecord]:
    labels = _labels_by_item(session, [row[0] for row in rows])
    return [
        ItemRecord(item_id=item_id, archive=archive, key=key, image_path=path, text=text,
                   labels=labels.get(item_id, []), patient=patient, split=split, licence=licence,
                   modality=modality, extra=dict(extra or {}), image_vector_id=image_vid, text_vector_id=text_vid,
                   case=case_key)
        for (item_id, archive, key, path, text, patient, split, licence, modality, extra, image_vid, text_vid,
             case_key) in rows
    ]


def records_for_vectors(session: Session, modality: str, vector_ids) -> dict[int, ItemRecord]:
    wanted = sorted({int(v) for v in vector_ids})
    rows = []
    stmt = _records_by_vector(modality)
    for start in range(0, len(wanted), CHUNK):
        rows += session.execute(stmt, {"ids": wanted[start:start + CHUNK]}).all()
    by_vector = {}
    for record in _to_records(session, rows):
        by_vector[record.image_vector_id if modality == "image" else record.text_vector_id] = record
    return by_vector


def record_by_id(session: Session, item_id: int) -> ItemRecord | None:
    rows = session.execute(_record_select().where(ItemRow.id == int(item_id))).all()
    return _to_records(session, rows)[0] if rows else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def modality_condition(wanted: str):
    """Items whose stored modality, in any spelling (indexes written before the vocabulary kept "MRI",
    "ultrasound"...), is ``wanted``'s canonical one; "unknown" also matches items with none."""
    spellings = modality_spellings(wanted)
    condition = func.lower(ItemRow.modality).in_(sorted(spellings))
    return or_(ItemRow.modality.is_(None), condition) if canonical_modality(wanted) == UNKNOWN else condition


def filter_conditions(filters: Filters) -> list:
    conditions = []
    if filters.modality:
        conditions.append(modality_condition(filters.modality))
    if filters.split:
        conditions.append(ItemRow.split == filters.split)
    if filters.licence:
        if filters.licence.endswith("*"):
            conditions.append(ItemRow.licence.like(_escape_like(filters.licence[:-1]) + "%", escape="\\"))
        else:
            conditions.append(ItemRow.licence == filters.licence)
    for label in dict.fromkeys(filters.labels or []):  # a name or a code: any stored label it stands for
        conditions.append(ItemRow.id.in_(select(Label.item_id).where(Label.label.in_(label_alternatives(label)))))
    return conditions


def allowed_vector_ids(session: Session, modality: str, filters: Filters) -> np.ndarray:
    table = vector_table(modality)
    stmt = (select(table.vector_id).join(ItemRow, ItemRow.id == table.item_id)
            .where(table.vector_id.is_not(None), *filter_conditions(filters)).order_by(table.vector_id))
    return np.fromiter(session.scalars(stmt), dtype=np.int64)


def _grouped(session: Session, column, limit: int | None = None) -> dict[str, int]:
    count = func.count()
    stmt = select(column, count).where(column.is_not(None)).group_by(column).order_by(count.desc(), column)
    if limit is not None:
        stmt = stmt.limit(limit)
    return {value: n for value, n in session.execute(stmt)}


def _modality_facet(session: Session) -> dict[str, int]:
    """Item count per canonical modality (old spellings merged), "unknown" for items with none."""
    merged: dict[str, int] = defaultdict(int)
    count = func.count()
    for value, n in session.execute(select(ItemRow.modality, count).group_by(ItemRow.modality)):
        merged[canonical_modality(value) or UNKNOWN] += n
    return dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])))


def _concept_facets(session: Session) -> dict[str, dict[str, int]]:
    """{"findings": {name: items}, "body_regions": {...}}: items per named concept, its codes and its words merged
    (a ROCO CUI and another archive's "Pneumothorax" count as one), most frequent first."""
    vocab = vocabulary()
    words = sorted(vocab.names)
    stmt = select(Label.label, Label.item_id).where(
        or_(Label.label.in_(sorted(vocab.concepts)), func.lower(Label.label).in_(words)))
    items: dict[str, set[int]] = defaultdict(set)
    for label, item_id in session.execute(stmt):
        name = concept_name(label)
        if name is not None:
            items[name].add(item_id)
    grouped: dict[str, dict[str, int]] = {facet: {} for facet in FACET_OF_GROUP.values()}
    for name, ids in sorted(items.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        grouped[FACET_OF_GROUP[vocab.groups[name]]][name] = len(ids)
    return grouped


def facets(session: Session, label_limit: int | None) -> dict[str, dict[str, int]]:
    return {
        "modalities": _modality_facet(session),
        **_concept_facets(session),
        "labels": _grouped(session, Label.label, label_limit),
        "splits": _grouped(session, ItemRow.split),
        "licences": _grouped(session, ItemRow.licence),
    }


def item_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ItemRow)) or 0)


def counts(session: Session) -> dict[str, int]:
    def count(stmt) -> int:
        return int(session.scalar(stmt) or 0)

    return {
        "archives": count(select(func.count()).select_from(ArchiveRow)),
        "items": item_count(session),
        "image": count(select(func.count()).select_from(Image).where(Image.vector_id.is_not(None))),
        "text": count(select(func.count()).select_from(TextRow).where(TextRow.vector_id.is_not(None))),
        "labels": count(select(func.count(func.distinct(Label.label)))),
    }


def vector_ids(session: Session, modality: str) -> np.ndarray:
    """Sorted int64 vector ids of ``modality`` that a store row points at (the live vectors)."""
    table = vector_table(modality)
    stmt = select(table.vector_id).where(table.vector_id.is_not(None)).order_by(table.vector_id)
    return np.fromiter(session.scalars(stmt), dtype=np.int64)


def vector_items(session: Session, modality: str) -> tuple[np.ndarray, np.ndarray]:
    """(vector ids, item ids), int64, of every row of ``modality`` that points at a vector."""
    table = vector_table(modality)
    rows = session.execute(select(table.vector_id, table.item_id).where(table.vector_id.is_not(None))).all()
    pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def list_items(session: Session, filters: Filters | None = None, keys=None, archive: str | None = None,
               limit: int | None = None, offset: int = 0) -> list[ItemRecord]:
    """Items in key order (archive, key), restricted by filters, keys and archive name."""
    stmt = _record_select()
    if filters is not None:
        stmt = stmt.where(*filter_conditions(filters))
    if archive is not None:
        stmt = stmt.where(ArchiveRow.name == archive)
    if keys is not None:
        keys = [str(k) for k in keys]
        records: list[ItemRecord] = []
        for start in range(0, len(keys), CHUNK):
            rows = session.execute(stmt.where(ItemRow.key.in_(keys[start:start + CHUNK]))).all()
            records += _to_records(session, rows)
        records.sort(key=lambda r: (r.archive, r.key))
        return records[offset:None if limit is None else offset + limit]
    stmt = stmt.order_by(ArchiveRow.name, ItemRow.key).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return _to_records(session, session.execute(stmt).all())


def vector_id_range(session: Session, modality: str) -> tuple[int | None, int | None]:
    table = vector_table(modality)
    low, high = session.execute(select(func.min(table.vector_id), func.max(table.vector_id))).one()
    return (None if low is None else int(low)), (None if high is None else int(high))
