"""A case: several items (images, reports) that belong together, with the case's own text.

A MedPix teaching case (``U_id``) has CT/MR images plus a history, exam, findings, differential and diagnosis; a
DICOM study groups its series; an IU X-ray report groups its projections; a PubMed Central article groups its
figures (a weak grouping: the article has no case text). Items name their case in ``Item.case``; readers that
know the case texts yield ``Case`` records from ``Reader.cases()``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Section names in the order they are shown and embedded; readers map their own headings onto these.
SECTIONS = ("history", "exam", "findings", "differential", "diagnosis", "discussion")
SECTION_TITLES = {
    "history": "History", "exam": "Exam", "findings": "Findings", "differential": "Differential diagnosis",
    "diagnosis": "Diagnosis", "discussion": "Discussion",
}


@dataclass
class Case:
    """One case: ``key`` is unique within its archive (the items' ``case``); ``sections`` maps a name in
    ``SECTIONS`` (others are kept after them) to its text; ``diagnosis`` is the short final diagnosis used to
    compare cases (MedPix: the topic title, else the case diagnosis)."""

    key: str
    title: str | None = None
    sections: dict[str, str] = field(default_factory=dict)
    diagnosis: str | None = None
    labels: list[str] = field(default_factory=list)
    split: str | None = None
    licence: str | None = None
    extra: dict = field(default_factory=dict)

    def ordered_sections(self) -> list[tuple[str, str]]:
        known = [(name, self.sections[name]) for name in SECTIONS if self.sections.get(name)]
        others = [(name, text) for name, text in self.sections.items() if name not in SECTIONS and text]
        return known + others

    def text(self) -> str:
        """The case text as stored, searched and embedded: title, then each section under its heading."""
        parts = [self.title] if self.title else []
        parts += [f"{SECTION_TITLES.get(name, name.capitalize())}: {text}" for name, text in self.ordered_sections()]
        return "\n".join(parts)

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for part in (self.key, self.title or "", self.diagnosis or "", self.text(), "\x00".join(self.labels)):
            h.update(part.encode("utf-8") + b"\x00")
        return h.hexdigest()
