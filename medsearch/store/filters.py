"""What a search may be restricted to. Plain data: importing it costs nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from medsearch.archives.modality import same_modality
from medsearch.concepts import label_alternatives


# the fields a facet of the index (``Store.facets``) can show to be absent -> that facet
FACETED_FIELDS = {"modality": "modalities", "split": "splits", "licence": "licences"}


@dataclass
class Filters:
    """Restrict results to items that match every field set here.

    ``modality``: any spelling of the same canonical modality ("MRI" matches "MR", "CR" matches "X-ray"; see
    medsearch.archives.modality); "unknown" matches items with none. ``labels``: the item carries all of them, each
    given as a stored label, a concept code or a concept name ("pneumothorax" matches ROCO's C0032326; see
    medsearch.concepts).
    ``split``: exact. ``licence``: exact, or a prefix when it ends with ``*`` ("CC BY*" matches "CC BY-NC").
    """

    modality: str | None = None
    labels: list[str] = field(default_factory=list)
    split: str | None = None
    licence: str | None = None

    def is_empty(self) -> bool:
        return not (self.modality or self.labels or self.split or self.licence)

    def matches(self, record) -> bool:
        """The rules above, checked in Python on a fetched record (the search's post-filter path); the store
        applies the same rules in SQL, and tests/test_search.py checks that the two agree."""
        if not all(self.admits(name, getattr(record, name)) for name in ("modality", "split", "licence")):
            return False
        have = set(record.labels or [])
        return all(have.intersection(label_alternatives(label)) for label in self.labels or [])

    def absent_from(self, facets: dict[str, dict[str, int]]) -> list[tuple[str, str, list[str]]]:
        """(field, value asked, the values the index has) for each of modality, split and licence whose value no
        item of the index has, by the rules of ``admits``; ``facets``: ``Store.facets()``. Why a filtered search
        found nothing, when that is why (the CLI and the server say it)."""
        absent = []
        for name, facet in FACETED_FIELDS.items():
            present = (facets.get(facet) or {}).keys()
            if getattr(self, name) and not any(self.admits(name, value) for value in present):
                absent.append((name, getattr(self, name), sorted(str(value) for value in present)))
        return absent

    def absent_notices(self, facets: dict[str, dict[str, int]], option: str = "") -> list[str]:
        """``absent_from`` as lines to show, one a value, naming the values the index has; ``option``: what comes
        before a field's name (the CLI's "--")."""
        return [f"no item in this index has {option}{name} {value!r} (it has: {', '.join(have) or 'none'})"
                for name, value, have in self.absent_from(facets)]

    def admits(self, name: str, value: str | None) -> bool:
        """Whether an item whose ``name`` (modality, split or licence) is ``value`` passes that field's rule
        (always, when the field is not set)."""
        wanted = getattr(self, name)
        if not wanted:
            return True
        if name == "modality":
            return same_modality(value, wanted)
        if name == "licence" and wanted.endswith("*"):
            return (value or "").startswith(wanted[:-1])
        return value == wanted
