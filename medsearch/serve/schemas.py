"""Request and response bodies (they also document the API at /docs)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Target = Literal["image", "text"]
# What a ``target`` query parameter accepts (the CLI's spellings too); responses always say "image" or "text".
TargetParam = Literal["image", "images", "text", "texts", "report", "reports", "caption", "captions"]
Mode = Literal["dense", "lexical", "hybrid"]

# Item ids are SQL BIGINTs: a larger number can name no item (and overflows the driver), so it is refused at
# the edge with a 422 instead of reaching the store.
MAX_ITEM_ID = 2**63 - 1
ItemIdValue = Annotated[int, Field(ge=0, le=MAX_ITEM_ID)]


class ItemSummary(BaseModel):
    """What a hit and an item detail both show of the item."""

    item_id: int
    key: str
    labels: list[str]
    concepts: list[str] = Field(default_factory=list, description="display names of the named findings and body "
                                                                   "regions among the labels")
    licence: str | None
    modality: str | None
    split: str | None
    has_image: bool
    thumbnail_url: str | None


class Hit(ItemSummary):
    rank: int
    score: float
    target: Target
    snippet: str
    # why it matched (text searches): each ranking's score, the query terms found, [start, end) spans of them
    # in ``snippet``, and the text's status for each finding of the query (asserted, negated, uncertain, ...)
    mode: Mode | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    matched_terms: list[str] = Field(default_factory=list)
    highlights: list[tuple[int, int]] = Field(default_factory=list)
    assertion: dict[str, str] = Field(default_factory=dict)


class SearchResponse(BaseModel):
    query: str
    target: Target
    k: int
    results: list[Hit]
    searched_for: str | None = None  # the query as searched: normalised, abbreviations expanded
    mode: Mode | None = None
    notices: list[str] = Field(default_factory=list, description="when nothing was found: each filter value that "
                                                                 "no item of the index has, and the values it has")


class ItemDetail(ItemSummary):
    archive: str | None
    case: str | None = Field(None, description="the case the item belongs to (its view: /api/items/{id}/case); "
                                               "null: none")
    text: str
    metadata: dict
    attribution: dict


class FacetValue(BaseModel):
    value: str  # what to send back as the filter
    count: int  # items with this value (a store count, never missing)
    label: str | None = None  # what to show, when it differs from the value (modality "XR" -> "X-ray")


class Analysis(BaseModel):
    """The full-text analysis the index's texts were read with beside the server's (medsearch.lexical.stamp)."""

    index: str | None = Field(description="the index's stamp; null: built before stamps")
    current: str = Field(description="this server's analysis")
    current_matches: bool = Field(description="false: re-analyse (`medsearch index ... --reanalyse`)")


class InfoResponse(BaseModel):
    model: str
    dim: int
    targets: list[Target]
    counts: dict
    facets: dict[str, list[FacetValue]]
    analysis: Analysis
    auth_required: bool


class Health(BaseModel):
    status: Literal["ok"]


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class SessionRequest(BaseModel):
    token: str


class ExportRequest(BaseModel):
    item_ids: list[ItemIdValue] = Field(min_length=1, description="items in the order they appear in the file")
    title: str = Field("Teaching file", max_length=200)
    notes: dict[ItemIdValue, str] = Field(default_factory=dict, description="author's note per item id")


ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 415, 422)}
