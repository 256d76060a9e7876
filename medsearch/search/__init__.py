"""The Python query API: open an index directory and search it by text or by image.

    index = open_index("./idx")
    hits = index.search_text("PE", k=10)                       # text -> image
    hits = index.search_text("pneumothorax", target="text")    # text -> report
    hits = index.search_image("scan.dcm", target="image")      # image -> image
    outcome = index.search("PE", filters={"modality": "CT"})   # the hits and how: plan, timings, searched_for

faiss, the metadata store and the encoder load on first use; a text query with the default model never
imports torch (its text tower runs on onnxruntime), so nothing here imports torch either.

The package, one job a module: ``opening`` (open_index), ``index`` (Index: the loaded snapshot and the query
methods), ``hybrid`` (a text query: lexical beside dense, fusion), ``dense`` (ANN + rescoring + filter plan over
one snapshot), ``checks`` (target, mode, plan, k, filters), ``outcome`` (SearchOutcome, QueryEmbedding),
``result`` (SearchResult), ``images`` (an image query's input), ``health`` (vector counts per modality).
"""

from __future__ import annotations

# noqa: F401 below: re-exported, the names importers use
from medsearch.search.checks import PLANS, as_filters, check_k, check_mode, check_plan, check_target  # noqa: F401
from medsearch.search.health import vector_health  # noqa: F401
from medsearch.search.index import LEXICAL_THREADS, Index, TargetSnapshot  # noqa: F401
from medsearch.search.opening import open_index
from medsearch.search.outcome import QueryEmbedding, SearchOutcome
from medsearch.search.result import SearchResult
from medsearch.store.filters import Filters
from medsearch.targets import TARGET_ALIASES, TARGETS, canonical_target  # noqa: F401

__all__ = ["Filters", "Index", "QueryEmbedding", "SearchOutcome", "SearchResult", "TargetSnapshot", "open_index"]
