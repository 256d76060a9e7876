"""What a search hands back: its outcome (hits and how they were found), and a text query's embedding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from medsearch.search.result import SearchResult


@dataclass(frozen=True)
class SearchOutcome:
    """One search: its hits, best first, and how it ran. Each search makes its own, so concurrent searches (the
    server's threads) never see each other's plan or timings."""

    hits: tuple[SearchResult, ...]
    # how the dense ranking applied the filters: "unfiltered", "post-filter" (checked on the candidate pool) or
    # "pre-filter" (the allowed ids fetched from the store first); None when no dense ranking ran (lexical mode)
    plan: str | None
    timings: Mapping[str, float]  # seconds per stage: encode, load, filter, ann, rescore, metadata, lexical, ..., total
    searched_for: str | None = None  # text queries: the text embedded (normalised, lexicon-expanded)


@dataclass(frozen=True)
class QueryEmbedding:
    """A text query as embedded: the text (normalised, lexicon-expanded) and its (dim,) unit vector."""

    text: str
    vector: np.ndarray
