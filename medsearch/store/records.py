"""Rows going into the store (NewItem) and coming out of it (ItemRecord). Plain data, no SQLAlchemy."""

from __future__ import annotations

from dataclasses import dataclass

from medsearch.archives.item import ItemFields


@dataclass
class NewItem:
    """One archive item as the indexer writes it: the ``Item`` plus its content hash and vector ids.

    ``item`` is an archive ``Item`` (any ``ItemFields``: the store writes its fields as given, so tests can write
    the old modality spellings an older index holds). ``item.extra`` must hold safe metadata only (no PHI keys);
    the store keeps ``item.image_path`` as a string.
    """

    item: ItemFields
    content_hash: str = ""
    image_vector_id: int | None = None
    text_vector_id: int | None = None


@dataclass(kw_only=True)
class ItemRecord(ItemFields):
    """One stored item (the item fields as stored: ``image_path`` a string, ``modality`` as written), with its
    id, the name of its archive and both of its vector ids (None where absent)."""

    item_id: int
    archive: str
    image_vector_id: int | None = None
    text_vector_id: int | None = None
