"""Rows going into the store (NewItem) and coming out of it (ItemRecord). Plain data, no SQLAlchemy."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NewItem:
    """One archive item as the indexer writes it: the Item fields plus its content hash and vector ids.

    ``image_path`` is an absolute path as a string. ``extra`` must hold safe metadata only (no PHI keys).
    """

    key: str
    image_path: str | None = None
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    patient: str | None = None
    split: str | None = None
    licence: str | None = None
    modality: str | None = None
    extra: dict = field(default_factory=dict)
    case: str | None = None
    content_hash: str = ""
    image_vector_id: int | None = None
    text_vector_id: int | None = None

    @classmethod
    def from_item(cls, item, content_hash: str, image_vector_id: int | None = None,
                  text_vector_id: int | None = None) -> "NewItem":
        """Build from a ``medsearch.archives.item.Item``."""
        return cls(
            key=item.key,
            image_path=None if item.image_path is None else str(item.image_path),
            text=item.text,
            labels=list(item.labels or []),
            patient=item.patient,
            split=item.split,
            licence=item.licence,
            modality=item.modality,
            extra=dict(item.extra or {}),
            case=getattr(item, "case", None),
            content_hash=content_hash,
            image_vector_id=image_vector_id,
            text_vector_id=text_vector_id,
        )


@dataclass
class ItemRecord:
    """One stored item, with the name of its archive and both of its vector ids (None where absent)."""

    item_id: int
    archive: str
    key: str
    image_path: str | None
    text: str | None
    labels: list[str]
    patient: str | None
    split: str | None
    licence: str | None
    modality: str | None
    extra: dict
    image_vector_id: int | None
    text_vector_id: int | None
    case: str | None = None  # the key of the case it belongs to (see CaseRecord), or None
