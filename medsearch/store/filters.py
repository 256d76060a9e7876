"""What a search may be restricted to. Plain data: importing it costs nothing."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Filters:
    """Restrict results to items that match every field set here.

    ``modality``: exact, case-insensitive ("ct" matches "CT"). ``labels``: the item carries all of them.
    ``split``: exact. ``licence``: exact, or a prefix when it ends with ``*`` ("CC BY*" matches "CC BY-NC").
    """

    modality: str | None = None
    labels: list[str] = field(default_factory=list)
    split: str | None = None
    licence: str | None = None

    def is_empty(self) -> bool:
        return not (self.modality or self.labels or self.split or self.licence)
