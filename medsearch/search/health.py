"""The vectors of an index per modality: total, live, dead, and how even the IVF lists are."""

from __future__ import annotations

from medsearch.index_dir import IndexManifest


def vector_health(manifest: IndexManifest, counts: dict) -> dict:
    """Per modality: vectors in the index, live (a store row points at them), dead (deleted or replaced items,
    until `medsearch compact`), and for IVF indexes the lists' imbalance factor (1 = even)."""
    from medsearch.integrity import imbalance

    health = {}
    for modality, entry in manifest.modalities.items():
        live = counts.get(modality, 0)
        health[modality] = {"vectors": entry.count, "live": live, "dead": max(entry.count - live, 0),
                            "imbalance": imbalance(entry.list_sizes)}
    return health
