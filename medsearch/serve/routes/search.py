"""Text search and image search by upload."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from medsearch.serve.errors import ApiError
from medsearch.serve.filters import FilterParams, filter_params
from medsearch.serve.schemas import ERRORS, Mode, SearchResponse, TargetParam
from medsearch.serve.services import Services, get_services
from medsearch.serve.uploads import read_upload
from medsearch.serve.views import hit_view
from medsearch.targets import canonical_target

router = APIRouter(tags=["search"])

MAX_QUERY_CHARS = 1000


def _k(request: Request, k: int) -> int:
    limit = request.app.state.settings.max_k
    if not 1 <= k <= limit:
        raise ApiError(422, "invalid_request", f"k must be between 1 and {limit}")
    return k


@router.get("/api/search", response_model=SearchResponse, responses=ERRORS)
def search_text(
    request: Request,
    q: str = Query(..., description="words to search for", max_length=MAX_QUERY_CHARS),
    k: int = Query(10, description="number of results"),
    target: TargetParam = Query("image", description="search images ('image') or reports/captions ('text'); the CLI's images/reports spellings work too"),
    expand: bool = Query(True, description="expand abbreviations and synonyms in the query"),
    mode: Mode | None = Query(None, description="dense (embeddings), lexical (words of the texts) or hybrid (both; "
                                                 "the server's default)"),
    filters: FilterParams = Depends(filter_params),
    services: Services = Depends(get_services),
):
    """Search by words: text -> image or text -> report/caption."""
    if not q.strip():
        raise ApiError(400, "bad_query", "the query is empty: type some words to search for")
    k, target = _k(request, k), canonical_target(target)
    mode = mode or request.app.state.settings.default_mode
    options = {"mode": mode} if mode else {}
    results = services.call("search_text", q, k=k, target=target, expand=expand, filters=filters.to_filters(),
                            **options)
    searched_for = next((r.searched_for for r in results if getattr(r, "searched_for", None)), None)
    return {"query": q, "target": target, "k": k, "results": [hit_view(r) for r in results],
            "searched_for": searched_for, "mode": next((r.mode for r in results if getattr(r, "mode", None)), mode)}


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


@router.post("/api/search/image", response_model=SearchResponse, responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def search_image(
    request: Request,
    k: int = Query(10, description="number of results"),
    target: TargetParam = Query("image", description="find similar images ('image') or matching reports ('text'); the CLI's images/reports spellings work too"),
    filters: FilterParams = Depends(filter_params),
    services: Services = Depends(get_services),
):
    """Search by an uploaded image. The file is read in memory, used for this query and dropped."""
    k, target = _k(request, k), canonical_target(target)
    data, kind = await read_upload(request, services.settings.max_upload_bytes)
    image = await services.decoder.decode(data, f"upload.{kind}")
    results = await run_in_threadpool(services.call, "search_image", image, k=k, target=target,
                                      filters=filters.to_filters())
    return {"query": f"uploaded {kind} image ({len(data)} bytes)", "target": target, "k": k,
            "results": [hit_view(r) for r in results]}
