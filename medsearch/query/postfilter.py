"""Filters checked on fetched records, for the post-filter path (broad filters: most candidates pass).

The same meaning as the store's SQL (``medsearch.store.filters.Filters``): modality exact ignoring case,
every label present, split exact, licence exact or a prefix when it ends with ``*``.
"""

from __future__ import annotations


def record_matches(filters, record) -> bool:
    if filters.modality and (record.modality or "").lower() != filters.modality.lower():
        return False
    if filters.split and record.split != filters.split:
        return False
    if filters.licence:
        licence = record.licence or ""
        if filters.licence.endswith("*"):
            if not licence.startswith(filters.licence[:-1]):
                return False
        elif licence != filters.licence:
            return False
    return set(filters.labels or []) <= set(record.labels or [])
