"""medsearch: cross-modal medical image/report search.

Public API (imported lazily so that `import medsearch` stays cheap)::

    import medsearch
    from medsearch.archives import open_archive
    medsearch.build_index(open_archive("demo"), "./idx", medsearch.load_encoder(), medsearch.IndexOptions(limit=10))
    index = medsearch.open_index("./idx")
    for hit in index.search_text("pulmonary embolism", k=10):
        print(hit.rank, hit.score, hit.key, hit.image_path)
"""

from __future__ import annotations

__version__ = "0.2.0"

_LAZY = {
    "open_index": "medsearch.search",
    "Index": "medsearch.search",
    "SearchResult": "medsearch.search",
    "Filters": "medsearch.search",
    "list_models": "medsearch.models.registry",
    "load_encoder": "medsearch.models.registry",
    "classify": "medsearch.classifier",
    "Classifier": "medsearch.classifier",
    # indexing (indexer.pipeline) and the index lifecycle (indexer.maintain): delete, compact, list, verify
    "build_index": "indexer.pipeline",
    "IndexOptions": "indexer.pipeline",
    "delete_items": "indexer.maintain",
    "compact": "indexer.maintain",
    "list_items": "indexer.maintain",
    "verify": "indexer.maintain",
}

__all__ = list(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medsearch' has no attribute {name!r}")
