"""Health, index information (model, counts, facets for the filters) and the page's session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from medsearch.serve.errors import ApiError
from medsearch.serve.schemas import ERRORS, Health, InfoResponse, SessionRequest
from medsearch.serve.security import COOKIE, require_token, token_matches
from medsearch.serve.services import Services, get_services
from medsearch.serve.views import facets_view

router = APIRouter(tags=["meta"])


@router.get("/api/health", response_model=Health)
def health():
    """Liveness, open to all (says nothing about the index)."""
    return {"status": "ok"}


@router.get("/api/info", response_model=InfoResponse, responses=ERRORS, dependencies=[Depends(require_token)])
def info(services: Services = Depends(get_services)):
    """Model, counts per modality, the facet values the filters offer, and whether the index's texts were analysed
    by this server's negation rules (``analysis.current_matches``; false: `medsearch index ... --reanalyse`)."""
    info = services.index.info()
    manifest = services.index.manifest
    targets = [t for t in ("image", "text") if t in manifest.modalities]
    return {"model": manifest.model_name, "dim": manifest.dim, "targets": targets, "counts": info["counts"],
            "facets": facets_view(info["facets"]), "analysis": info["analysis"],
            "auth_required": bool(services.settings.token)}


@router.post("/api/session", status_code=204, responses=ERRORS)
def open_session(body: SessionRequest, request: Request, services: Services = Depends(get_services)):
    """Trade the access token for an HttpOnly cookie, so that the page's <img> thumbnails are authorised."""
    expected = services.settings.token
    if expected and not token_matches(expected, body.token):
        raise ApiError(401, "unauthorized", "wrong access token")
    response = Response(status_code=204)
    response.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
