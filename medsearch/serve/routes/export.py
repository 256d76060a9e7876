"""Export a collection as a self-contained HTML teaching file."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from medsearch.serve.errors import ApiError
from medsearch.serve.export_html import render_teaching_file
from medsearch.serve.schemas import ERRORS, ExportRequest
from medsearch.serve.services import Services, get_services

router = APIRouter(tags=["export"])


@router.post("/api/export/html", responses={**ERRORS, 200: {"content": {"text/html": {}}}}, response_class=Response)
def export_html(body: ExportRequest, services: Services = Depends(get_services)):
    """The items, in order, as one HTML file with images embedded as data URIs (download it, share it)."""
    limit = services.settings.max_export_items
    if len(body.item_ids) > limit:
        raise ApiError(422, "too_many_items", f"export at most {limit} items at a time")
    entries = []
    for item_id in body.item_ids:
        record = services.index.item(item_id)
        entries.append((record, services.export_image(record), body.notes.get(item_id)))
    html = render_teaching_file(body.title, entries)
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="teaching-file.html"'})
