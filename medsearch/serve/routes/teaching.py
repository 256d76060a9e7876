"""Teaching routes: search by case, diverse results, look-alike cases with another diagnosis, report drafts,
the case view, and a collection of cases exported as an HTML teaching file."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from medsearch.serve.errors import ApiError
from medsearch.serve.filters import FilterParams, filter_params
from medsearch.serve.routes.items import ItemId
from medsearch.serve.routes.search import UPLOAD_BODY, TextQuery, text_query, uploaded_image
from medsearch.serve.schemas import ERRORS, ItemIdValue, TargetParam
from medsearch.serve.services import Services, get_services
from medsearch.serve.teaching_views import case_hit_view, case_page_view
from medsearch.serve.views import hit_view
from medsearch.targets import canonical_target

router = APIRouter(tags=["teaching"])


# -- cases ---------------------------------------------------------------------------------------------------

@router.get("/api/cases", responses=ERRORS)
def cases_text(query: TextQuery = Depends(text_query), services: Services = Depends(get_services)):
    """One hit per case (MedPix case, DICOM study, report, article): its best items and the case text; cases
    ranked by their images ('image') or reports ('text')."""
    from medsearch.teaching.cases import search_cases_text

    hits = services.encoding(search_cases_text, services.index, query.q, k=query.k, target=query.target,
                             filters=query.filters)
    return {"query": query.q, "k": query.k, "results": [case_hit_view(h) for h in hits],
            "notices": services.filter_notices(query.filters, hits)}


@router.post("/api/cases/image", responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def cases_image(request: Request, k: int = Query(10, description="number of cases"),
                      filters: FilterParams = Depends(filter_params), services: Services = Depends(get_services)):
    """Nearest cases to an uploaded image (image -> image), one hit per case."""
    from medsearch.teaching.cases import search_cases_image

    k, wanted = services.checked_k(k), filters.to_filters()
    image, label = await uploaded_image(request, services)
    hits = await run_in_threadpool(services.encoding, search_cases_image, services.index, image, k=k,
                                   filters=wanted)
    return {"query": label, "k": k, "results": [case_hit_view(h) for h in hits],
            "notices": services.filter_notices(wanted, hits)}


@router.get("/api/case", responses=ERRORS)
def case_detail(archive: str = Query(..., description="archive name"), case: str = Query(..., description="case key"),
                services: Services = Depends(get_services)):
    """The case view: its text (history, findings, differential, diagnosis...) and every item of the case."""
    from medsearch.teaching.cases import case_view

    return case_page_view(case_view(services.index, archive, case))  # an unknown case: CaseNotFound, a 404


@router.get("/api/items/{item_id}/case", responses=ERRORS)
def item_case(item_id: ItemId, services: Services = Depends(get_services)):
    """The case an item belongs to (404 when it names none)."""
    from medsearch.teaching.cases import case_view

    record = services.index.item(item_id)
    if not record.case:
        raise ApiError(404, "not_found", f"item {item_id} belongs to no case")
    return case_page_view(case_view(services.index, record.archive, record.case))


# -- diverse -------------------------------------------------------------------------------------------------

@router.get("/api/diverse", responses=ERRORS)
def diverse_text(query: TextQuery = Depends(text_query), services: Services = Depends(get_services)):
    """Teaching mode: at most one hit per case/patient, near-duplicates spread (MMR)."""
    from medsearch.teaching.diverse import diverse_text as run

    results = services.encoding(run, services.index, query.q, k=query.k, target=query.target, filters=query.filters)
    return {"query": query.q, "target": query.target, "k": query.k, "results": [hit_view(r) for r in results],
            "notices": services.filter_notices(query.filters, results)}


@router.post("/api/diverse/image", responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def diverse_image(request: Request, k: int = Query(10, description="number of results"),
                        target: TargetParam = Query("text", description="reports ('text', the default, as for "
                                                    "/api/search/image) or images ('image')"),
                        filters: FilterParams = Depends(filter_params), services: Services = Depends(get_services)):
    from medsearch.teaching.diverse import diverse_image as run

    k, target, wanted = services.checked_k(k), canonical_target(target), filters.to_filters()
    image, label = await uploaded_image(request, services)
    results = await run_in_threadpool(services.encoding, run, services.index, image, k=k, target=target,
                                      filters=wanted)
    return {"query": label, "target": target, "k": k, "results": [hit_view(r) for r in results],
            "notices": services.filter_notices(wanted, results)}


# -- different diagnosis -------------------------------------------------------------------------------------

def _differential_view(result) -> dict:
    return {"reference_diagnosis": result.reference_diagnosis, "reference_labels": result.reference_labels,
            "reference_source": result.reference_source, "results": [case_hit_view(h) for h in result.hits]}


@router.post("/api/different-diagnosis", responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def different_diagnosis_image(
    request: Request, k: int = Query(10, description="number of cases"),
    diagnosis: str | None = Query(None, description="the diagnosis to differ from (default: the nearest case's)"),
    filters: FilterParams = Depends(filter_params), services: Services = Depends(get_services),
):
    """Looks similar, different diagnosis: nearest cases to the uploaded image whose diagnosis differs."""
    from medsearch.teaching.differential import different_diagnosis_for_image

    k = services.checked_k(k)
    image, _ = await uploaded_image(request, services)
    result = await run_in_threadpool(services.encoding, different_diagnosis_for_image, services.index, image, k=k,
                                     filters=filters.to_filters(), diagnosis=diagnosis)
    return _differential_view(result)


@router.get("/api/items/{item_id}/different-diagnosis", responses=ERRORS)
def different_diagnosis_item(item_id: ItemId, k: int = Query(10, description="number of cases"),
                             diagnosis: str | None = Query(None, description="the diagnosis to differ from"),
                             filters: FilterParams = Depends(filter_params), services: Services = Depends(get_services)):
    """The same for an indexed item: its own case is the reference and is left out."""
    from medsearch.teaching.differential import different_diagnosis_for_item

    # an unknown id: ItemNotFound, a 404
    result = different_diagnosis_for_item(services.index, item_id, k=services.checked_k(k), filters=filters.to_filters(),
                                          diagnosis=diagnosis)
    return _differential_view(result)


# -- drafts --------------------------------------------------------------------------------------------------

@router.post("/api/draft", responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def draft(request: Request, cases: int = Query(7, ge=1, le=20, description="similar cases to draft from"),
                min_score: float | None = Query(None, description="refuse below this similarity (default: from the index)"),
                filters: FilterParams = Depends(filter_params), services: Services = Depends(get_services)):
    """A report draft for the uploaded image: findings sentences taken verbatim from the most similar cases, each
    citing its case (id, similarity, licence), with assertion marks; status "no_close_case" when none is close."""
    from medsearch.teaching.draft import draft_report

    image, _ = await uploaded_image(request, services)
    result = await run_in_threadpool(services.encoding, draft_report, services.index, image,
                                     filters=filters.to_filters(), cases=cases, min_score=min_score)
    return result.to_dict()


# -- export --------------------------------------------------------------------------------------------------

class CaseRef(BaseModel):
    archive: str
    case: str


class CaseExportRequest(BaseModel):
    cases: list[CaseRef] = Field(default_factory=list, description="cases in the order they appear in the file")
    item_ids: list[ItemIdValue] = Field(default_factory=list, description="single items, after the cases")
    title: str = Field("Teaching file", max_length=200)
    notes: dict[str, str] = Field(default_factory=dict, description="author's note per case key or item id")


@router.post("/api/export/cases/html", responses={**ERRORS, 200: {"content": {"text/html": {}}}},
             response_class=Response)
def export_cases_html(body: CaseExportRequest, services: Services = Depends(get_services)):
    """The cases, in order, as one HTML teaching file: each case's text, its images embedded, licences."""
    from medsearch.serve.export_cases import render_case_file
    from medsearch.teaching.cases import case_view

    limit = services.settings.max_export_items
    if not body.cases and not body.item_ids:
        raise ApiError(422, "invalid_request", "nothing to export: give cases or item_ids")
    if len(body.cases) + len(body.item_ids) > limit:
        raise ApiError(422, "too_many_items", f"export at most {limit} cases and items at a time")
    entries = []
    for ref in body.cases:
        view = case_view(services.index, ref.archive, ref.case)
        records = [services.index.item(item["item_id"]) for item in view["items"]]
        images = [(record, services.export_image(record)) for record in records]
        entries.append((view, images, body.notes.get(ref.case)))
    figures = []
    for item_id in body.item_ids:
        record = services.index.item(item_id)
        figures.append((record, services.export_image(record), body.notes.get(str(item_id))))
    html = render_case_file(body.title, entries, figures)
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="teaching-file.html"'})
