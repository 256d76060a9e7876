"""Checks of a query's arguments (target, mode, k, filters), before any part of the index is touched, and of the
query model against the index's manifest."""

from __future__ import annotations

from medsearch.errors import BadQuery, IndexMismatch
from medsearch.index_dir import IndexManifest
from medsearch.store.filters import Filters
from medsearch.targets import canonical_target

MODES = ("dense", "lexical", "hybrid")


def check_target(target: str) -> str:
    return canonical_target(target)


def check_mode(mode: str | None) -> str:
    from medsearch.query.fusion import DEFAULT_MODE

    if mode is None:
        return DEFAULT_MODE
    if mode not in MODES:
        raise BadQuery(f"unknown search mode {mode!r}", hint=f"choose one of: {', '.join(MODES)}")
    return mode


def check_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise BadQuery(f"k must be a positive whole number, not {k!r}")
    return k


def as_filters(filters) -> Filters | None:
    """None, a Filters or a dict of its fields -> Filters, or None when nothing is restricted."""
    if filters is None:
        return None
    if isinstance(filters, dict):
        try:
            filters = Filters(**filters)
        except TypeError as exc:
            raise BadQuery(f"bad filters {filters!r}: {exc}") from exc
    return None if filters.is_empty() else filters


def check_encoder(manifest: IndexManifest, encoder, name: str | None = None) -> None:
    manifest.check_model(encoder.model_id, name)
    if encoder.dim != manifest.dim:
        raise IndexMismatch(f"model {encoder.model_id!r} has dimension {encoder.dim}, the index {manifest.dim}")
