"""Checks of a query's arguments (target, mode, filter plan, k, filters), made once at the public entry before
any part of the index is touched (the query model is checked by ``IndexManifest.check_encoder``)."""

from __future__ import annotations

from dataclasses import fields

from medsearch.errors import BadQuery
from medsearch.store.filters import Filters
from medsearch.targets import canonical_target

# How a filtered dense search runs. auto: the filter is checked on the unfiltered candidate pool first (cheap for
# broad filters), and only when too few pass are the allowed vector ids fetched from the store; pre-filter: the
# allowed ids are always fetched first (for measuring and testing that path).
PLANS = ("auto", "pre-filter")


def check_target(target: str) -> str:
    return canonical_target(target)


def check_mode(mode: str | None) -> str:
    from medsearch.query.fusion import DEFAULT_MODE, MODES

    return DEFAULT_MODE if mode is None else _one_of(mode, MODES, "search mode")


def check_plan(plan: str) -> str:
    return _one_of(plan, PLANS, "filter plan")


def _one_of(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise BadQuery(f"unknown {what} {value!r}", hint=f"choose one of: {', '.join(choices)}")
    return value


def check_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise BadQuery(f"k must be a positive whole number, not {k!r}")
    return k


def as_filters(filters) -> Filters | None:
    """None, a Filters or a dict of its fields -> Filters, or None when nothing is restricted."""
    if filters is None:
        return None
    if isinstance(filters, dict):
        names = [f.name for f in fields(Filters)]
        unknown = [name for name in filters if name not in names]
        if unknown:
            raise BadQuery(f"unknown filter {', '.join(map(repr, unknown))} in {filters!r}",
                           hint=f"filters take: {', '.join(names)}")
        filters = Filters(**filters)
    return None if filters.is_empty() else filters
