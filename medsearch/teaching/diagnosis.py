"""Do two cases have the same diagnosis? Short diagnoses are compared as sets of content words.

"Arteriovenous Malformation (AVM)" and "arteriovenous malformation" are the same; "Meningioma" and
"Glioblastoma" are not. Cases without a diagnosis are compared by their labels (MeSH, CUIs, dx: labels).
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    "a an and the of with without in on to for by from or due secondary type left right bilateral".split()
)
SAME_DIAGNOSIS_JACCARD = 0.5
_WORD = re.compile(r"[a-z0-9]+")


def diagnosis_words(text: str | None) -> frozenset[str]:
    """Content words of a diagnosis, lower-cased, plural 's' trimmed; an acronym in brackets is dropped when
    the words before it spell it out."""
    if not text:
        return frozenset()
    text = text.lower()
    text = re.sub(r"\(([a-z0-9 ]+)\)", lambda m: "" if len(m.group(1).split()) == 1 else m.group(0), text)
    words = {w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith("ss") else w for w in _WORD.findall(text)}
    return frozenset(w for w in words if w not in STOP_WORDS)


def same_diagnosis(a: str | None, b: str | None) -> bool:
    wa, wb = diagnosis_words(a), diagnosis_words(b)
    if not wa or not wb:
        return False
    if wa <= wb or wb <= wa:
        return True
    return len(wa & wb) / len(wa | wb) >= SAME_DIAGNOSIS_JACCARD


def diagnosis_labels(labels) -> set[str]:
    """The labels that say what a case is (``dx:`` labels when there are any, else all labels)."""
    labels = set(labels or [])
    dx = {label for label in labels if label.startswith("dx:")}
    return dx or labels


def same_case_kind(diagnosis_a, labels_a, diagnosis_b, labels_b) -> bool:
    """Same diagnosis when both have one; else overlapping diagnosis labels."""
    if diagnosis_a and diagnosis_b:
        return same_diagnosis(diagnosis_a, diagnosis_b)
    la, lb = diagnosis_labels(labels_a), diagnosis_labels(labels_b)
    return bool(la and lb and la & lb)
