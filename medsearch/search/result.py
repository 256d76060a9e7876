"""The hit a search returns: one stored item (``ItemRecord``), its rank and score, and why it matched."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from medsearch.archives.modality import canonical_modality
from medsearch.store.records import ItemRecord

# what a hit's dict (JSON output, the case view) leaves out of the stored record: the patient pseudonym and the
# vector ids stay inside
NOT_SHOWN = ("patient", "image_vector_id", "text_vector_id")


@dataclass(kw_only=True)
class SearchResult(ItemRecord):
    """A stored item as a hit: ``image_path`` a string, ``modality`` in the one vocabulary."""

    rank: int
    score: float
    target: str  # "image" or "text": which vectors matched
    # why it matched (text queries): each ranking's own score (None: not in that ranking's candidates), the
    # query terms found, a snippet with [start, end) highlight spans, and the text's status per query finding
    mode: str | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    matched_terms: list[str] = field(default_factory=list)
    snippet: str | None = None
    highlights: list[tuple[int, int]] = field(default_factory=list)
    assertion: dict = field(default_factory=dict)
    searched_for: str | None = None

    @classmethod
    def from_record(cls, rank: int, score: float, target: str, record: ItemRecord) -> "SearchResult":
        stored = {f.name: getattr(record, f.name) for f in fields(ItemRecord)}
        stored.update(image_path=None if record.image_path is None else str(record.image_path),
                      labels=list(record.labels or []), modality=canonical_modality(record.modality),
                      extra=dict(record.extra or {}))
        return cls(**stored, rank=rank, score=score, target=target)

    def to_dict(self) -> dict:
        shown = asdict(self)
        for name in NOT_SHOWN:
            del shown[name]
        return shown
