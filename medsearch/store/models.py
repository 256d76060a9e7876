"""SQLAlchemy ORM tables. The schema itself is created by the Alembic migrations in ``migrations/versions``;
``tests/test_store.py`` checks that the two agree."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class ArchiveRow(Base):
    __tablename__ = "archives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    root: Mapped[str] = mapped_column(Text)
    manifest: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("archive_id", "key", name="uq_items_archive_key"),
                      Index("ix_items_archive_case", "archive_id", "case_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    archive_id: Mapped[int] = mapped_column(ForeignKey("archives.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512))
    content_hash: Mapped[str] = mapped_column(String(128))
    case_key: Mapped[str | None] = mapped_column(String(512))  # the case it belongs to (MedPix U_id, study...)
    patient: Mapped[str | None] = mapped_column(String(128))
    split: Mapped[str | None] = mapped_column(String(64), index=True)
    licence: Mapped[str | None] = mapped_column(String(255), index=True)
    modality: Mapped[str | None] = mapped_column(String(64), index=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), unique=True)
    path: Mapped[str | None] = mapped_column(Text)
    vector_id: Mapped[int | None] = mapped_column(Integer, index=True)


class TextRow(Base):
    __tablename__ = "texts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str | None] = mapped_column(Text)
    vector_id: Mapped[int | None] = mapped_column(Integer, index=True)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_label_item", "label", "item_id"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(255), primary_key=True)


class LexicalSentence(Base):
    """One sentence of an item's text, its clinical terms split by assertion status (medsearch.lexical): the
    rows the full-text index covers (FTS5 on SQLite, a tsvector GIN index on PostgreSQL; see store/lexical.py)."""

    __tablename__ = "lexical"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    asserted: Mapped[str] = mapped_column(Text)
    negated: Mapped[str] = mapped_column(Text)
    uncertain: Mapped[str] = mapped_column(Text)
    historical: Mapped[str] = mapped_column(Text)


class CaseRow(Base):
    """A case's own text (history, findings, diagnosis...) and its text vector (float32 bytes); its items are
    those of the same archive whose ``case_key`` is its ``key`` (a case may have no row: a weak grouping)."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("archive_id", "key", name="uq_cases_archive_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    archive_id: Mapped[int] = mapped_column(ForeignKey("archives.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512))
    content_hash: Mapped[str] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(Text)
    diagnosis: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    sections: Mapped[dict] = mapped_column(JSON, default=dict)
    labels: Mapped[list] = mapped_column(JSON, default=list)
    split: Mapped[str | None] = mapped_column(String(64))
    licence: Mapped[str | None] = mapped_column(String(255))
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
