"""The unit every reader yields and every later stage consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ItemFields:
    """The fields of one archive entry, and the one place they are declared: an archive ``Item``, the stored
    ``medsearch.store.ItemRecord`` and a search hit (``SearchResult``) all derive from it.

    ``key`` is the archive's own id (roco_id, uid, StudyInstanceUID...), unique within one archive.
    ``patient`` is already a salted hash (see ``medsearch.privacy.patient_key``) or None; never a raw id.
    ``extra`` holds non-PHI metadata worth showing (modality, view, body part, age band, sex...).
    ``case`` is the key of the case the item belongs to (MedPix U_id, a hashed StudyInstanceUID, an IU X-ray uid,
    a PMC article id as a weak grouping), or None; see ``medsearch.archives.case``.
    """

    key: str
    image_path: Path | str | None = None  # a Path as read; the store gives it back as a string
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    patient: str | None = None
    split: str | None = None
    licence: str | None = None
    modality: str | None = None
    extra: dict = field(default_factory=dict)
    case: str | None = None


@dataclass
class Item(ItemFields):
    """One archive entry as a reader yields it: an image, a text, or both; its modality in the one vocabulary."""

    def __post_init__(self):
        from medsearch.archives.modality import canonical_modality

        self.modality = canonical_modality(self.modality)  # one vocabulary: "MRI", "mr" -> "MR"; "CR" -> "XR"

    def shown_path(self) -> str:
        """The image path to name in messages: the archive's path relative to its root when it gave one (readers
        whose paths may name a patient give none unless asked), else a reference by key."""
        return self.extra.get("image_relpath") or f"the image of item {self.key}"

    def content_hash(self) -> str:
        """Hash of what gets embedded: image bytes and text. Re-runs skip items whose hash is unchanged."""
        h = hashlib.sha256()
        if self.image_path is not None:
            h.update(b"img:")
            with open(self.image_path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        if self.text is not None:
            h.update(b"txt:" + self.text.encode("utf-8"))
        return h.hexdigest()


@dataclass
class Skipped:
    """An item (or row) that was recorded and skipped, with the reason, for the run summary."""

    where: str  # item key, file path or "captions.csv:123"
    reason: str
    stage: str = "read"  # read | decode | embed | write
    # set when the row is still in the archive, its image only unavailable (its item is not pruned); not part of
    # what a skip is (equality, repr, skipped.jsonl)
    key: str | None = field(default=None, compare=False, repr=False)
