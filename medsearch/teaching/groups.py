"""Which group a hit belongs to, for grouping by case and for capping near-duplicates.

A hit's case (MedPix U_id, DICOM study, IU X-ray uid, PMC article) when its item names one; else its patient
(a salted hash); else the item itself. Keys carry the archive name, so equal keys of two archives never merge.
"""

from __future__ import annotations

ITEM_PREFIX = "item:"


def case_key(hit) -> tuple[str, str]:
    """(archive, case key) of a SearchResult or ItemRecord; an item without a case is a case of its own."""
    return (hit.archive or "", hit.case or f"{ITEM_PREFIX}{hit.key}")


def group_key(hit) -> tuple[str, str]:
    """(archive, case, else patient, else item) for the per-group cap of diverse results."""
    if getattr(hit, "case", None):
        return (hit.archive or "", f"case:{hit.case}")
    patient = getattr(hit, "patient", None)
    if patient:
        return (hit.archive or "", f"patient:{patient}")
    return (hit.archive or "", f"{ITEM_PREFIX}{hit.key}")


def distinct_groups(hits, k: int = 10) -> int:
    """How many distinct cases (groups) the first ``k`` hits come from: the diversity figure."""
    return len({group_key(hit) for hit in hits[:k]})
