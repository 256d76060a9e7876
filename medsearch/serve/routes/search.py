"""Text search and image search by upload."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from medsearch.serve.errors import ApiError
from medsearch.serve.filters import FilterParams, filter_params
from medsearch.serve.schemas import ERRORS, Mode, SearchResponse, TargetParam
from medsearch.serve.services import Services, get_services
from medsearch.serve.uploads import read_upload
from medsearch.serve.views import hit_view
from medsearch.store.filters import Filters
from medsearch.targets import canonical_target

router = APIRouter(tags=["search"])

MAX_QUERY_CHARS = 1000


@dataclass
class TextQuery:
    """A text query's parameters, checked: words present, k within the server's limit, target canonical."""

    q: str
    k: int
    target: str
    filters: Filters | None


def text_query(
    q: str = Query(..., description="words to search for", max_length=MAX_QUERY_CHARS),
    k: int = Query(10, description="number of results (of cases, for a search by case)"),
    target: TargetParam = Query("image", description="search images ('image') or reports/captions ('text'); the "
                                                     "CLI's images/reports spellings work too"),
    filters: FilterParams = Depends(filter_params),
    services: Services = Depends(get_services),
) -> TextQuery:
    if not q.strip():
        raise ApiError(400, "bad_query", "the query is empty: type some words to search for")
    return TextQuery(q, services.checked_k(k), canonical_target(target), filters.to_filters())


@router.get("/api/search", response_model=SearchResponse, responses=ERRORS)
def search_text(
    query: TextQuery = Depends(text_query),
    expand: bool = Query(True, description="expand abbreviations and synonyms in the query"),
    mode: Mode | None = Query(None, description="dense (embeddings), lexical (words of the texts) or hybrid (both; "
                                                 "the server's default)"),
    services: Services = Depends(get_services),
):
    """Search by words: text -> image or text -> report/caption."""
    from medsearch.search import check_mode

    mode = check_mode(mode or services.settings.default_mode)  # the mode that runs, named even when nothing is found
    results = services.encoding(services.index.search_text, query.q, k=query.k, target=query.target, expand=expand,
                                filters=query.filters, mode=mode)
    searched_for = next((r.searched_for for r in results if r.searched_for), None)
    return {"query": query.q, "target": query.target, "k": query.k, "results": [hit_view(r) for r in results],
            "searched_for": searched_for, "mode": next((r.mode for r in results if r.mode), mode),
            "notices": services.filter_notices(query.filters, results)}


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "the image file itself as the body (PNG, JPEG or DICOM Part 10), or a multipart form with "
                       "the file in a field named 'file'; at most 20 MB by default",
        "content": {**{t: {"schema": {"type": "string", "format": "binary"}}
                       for t in ("image/png", "image/jpeg", "application/dicom")},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"}}}}},
    }
}


async def uploaded_image(request: Request, services: Services):
    """The uploaded query image, decoded (bounded size and concurrency), and how the response names it."""
    data, kind = await read_upload(request, services.settings.max_upload_bytes)
    return await services.decoder.decode(data, f"upload.{kind}"), f"uploaded {kind} image ({len(data)} bytes)"


@router.post("/api/search/image", response_model=SearchResponse, responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def search_image(
    request: Request,
    k: int = Query(10, description="number of results"),
    target: TargetParam = Query("text", description="matching reports ('text', the default, as in the CLI and Python) "
                                "or similar images ('image'); the CLI's images/reports spellings work too"),
    filters: FilterParams = Depends(filter_params),
    services: Services = Depends(get_services),
):
    """Search by an uploaded image. The file is read in memory, used for this query and dropped."""
    k, target, wanted = services.checked_k(k), canonical_target(target), filters.to_filters()
    image, label = await uploaded_image(request, services)
    results = await run_in_threadpool(services.encoding, services.index.search_image, image, k=k, target=target,
                                      filters=wanted)
    return {"query": label, "target": target, "k": k, "results": [hit_view(r) for r in results],
            "notices": services.filter_notices(wanted, results)}
