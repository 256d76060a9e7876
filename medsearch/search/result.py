"""The hit a search returns: one item of the index, its rank and score, and why it matched."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from medsearch.archives.modality import canonical_modality


@dataclass
class SearchResult:
    rank: int
    score: float
    item_id: int
    key: str
    target: str  # "image" or "text": which vectors matched
    image_path: str | None
    text: str | None
    labels: list[str] = field(default_factory=list)
    licence: str | None = None
    split: str | None = None
    modality: str | None = None
    extra: dict = field(default_factory=dict)
    archive: str | None = None
    case: str | None = None  # the key of the case the item belongs to (see medsearch.teaching)
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
    def from_record(cls, rank: int, score: float, target: str, record) -> "SearchResult":
        return cls(
            rank=rank,
            score=score,
            item_id=record.item_id,
            key=record.key,
            target=target,
            image_path=None if record.image_path is None else str(record.image_path),
            text=record.text,
            labels=list(record.labels or []),
            licence=record.licence,
            split=record.split,
            modality=canonical_modality(record.modality),
            extra=dict(record.extra or {}),
            archive=record.archive,
            case=record.case,
        )

    def to_dict(self) -> dict:
        return asdict(self)
