"""Item detail, thumbnails and "more like this", all addressed by item id (never by path)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from medsearch.serve.filters import FilterParams, filter_params
from medsearch.serve.schemas import ERRORS, MAX_ITEM_ID, ItemDetail, SearchResponse, TargetParam
from medsearch.serve.services import Services, get_services
from medsearch.serve.views import hit_view, item_view
from medsearch.targets import canonical_target

router = APIRouter(tags=["items"])

ItemId = Annotated[int, Path(ge=0, le=MAX_ITEM_ID, description="the item's id (from a search hit)")]


@router.get("/api/items/{item_id}", response_model=ItemDetail, responses=ERRORS)
def item_detail(item_id: ItemId, services: Services = Depends(get_services)):
    """Metadata (safe tags only), full text, labels, licence and attribution of one item."""
    return item_view(services.index.item(item_id))  # an unknown id: ItemNotFound, a 404


@router.get("/api/items/{item_id}/thumbnail", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
            response_class=Response)
def item_thumbnail(item_id: ItemId, size: int = Query(256, ge=32, le=1024, description="longest side, px"),
                   services: Services = Depends(get_services)):
    """A PNG rendered from the indexed file (DICOM windowed like the indexer saw it)."""
    record = services.index.item(item_id)
    png = services.thumbnails.get(item_id, record.image_path, size)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/api/items/{item_id}/similar", response_model=SearchResponse, responses=ERRORS)
def item_similar(
    item_id: ItemId,
    k: int = Query(10, description="number of results"),
    target: TargetParam = Query("image", description="similar images ('image') or reports ('text'); the CLI's images/reports spellings work too"),
    filters: FilterParams = Depends(filter_params),
    services: Services = Depends(get_services),
):
    """More like this: the item's stored vector is the query (no re-encoding); the item itself is left out."""
    k, target, wanted = services.checked_k(k), canonical_target(target), filters.to_filters()
    results = services.index.search_similar(item_id, k=k, target=target, filters=wanted)
    return {"query": f"item {item_id}", "target": target, "k": k, "results": [hit_view(r) for r in results],
            "notices": services.filter_notices(wanted, results)}
