"""Query-string filters (modality, labels, split, licence) -> the store's Filters, or None when unset."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Query

from medsearch.store.filters import Filters


@dataclass
class FilterParams:
    modality: str | None = None
    labels: list[str] | None = None
    split: str | None = None
    licence: str | None = None

    def to_filters(self) -> Filters | None:
        labels = [label for label in (self.labels or []) if label]
        if not (self.modality or labels or self.split or self.licence):
            return None
        return Filters(modality=self.modality or None, labels=labels, split=self.split or None,
                       licence=self.licence or None)


def filter_params(
    modality: str | None = Query(None, description="only items of this modality (e.g. CT, MR, CR)"),
    labels: list[str] | None = Query(None, description="only items carrying all these labels (repeat the parameter)"),
    split: str | None = Query(None, description="only this split (train, val, test)"),
    licence: str | None = Query(None, description="licence, exact, or a prefix ending in * (e.g. 'CC BY*')"),
) -> FilterParams:
    return FilterParams(modality, labels, split, licence)
