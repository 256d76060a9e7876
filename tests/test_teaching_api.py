"""Teaching routes of the server over a real tiny index (tiny MedPix-layout archive, fake encoder): cases,
case view, diverse, different diagnosis, draft, case export."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from medpix_factory import SHADES, make_medpix, write_png  # noqa: E402
from medsearch.serve.app import create_app  # noqa: E402
from medsearch.serve.settings import ServeSettings  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from indexer.pipeline import IndexOptions, build_index
    from medsearch.archives import open_archive
    from medsearch.models.fake import FakeEncoder
    from medsearch.search import open_index

    tmp = tmp_path_factory.mktemp("teaching-api")
    build_index(open_archive("medpix", root=make_medpix(tmp / "medpix")), tmp / "idx", FakeEncoder(),
                IndexOptions(progress=False, workers=0))
    index = open_index(tmp / "idx", model=FakeEncoder())
    with TestClient(create_app(index, ServeSettings())) as client:
        yield client


@pytest.fixture
def meningioma_png(tmp_path) -> bytes:
    path = tmp_path / "q.png"
    write_png(path, SHADES["Meningioma"], seed=123)
    return path.read_bytes()


def _post(client, url, png: bytes, **params):
    return client.post(url, content=png, params=params, headers={"content-type": "image/png"})


def test_cases_by_text_and_by_image(client, meningioma_png):
    body = client.get("/api/cases", params={"q": "dural tail", "k": 3}).json()
    assert len(body["results"]) == 3 and len({r["case"] for r in body["results"]}) == 3
    by_image = _post(client, "/api/cases/image", meningioma_png, k=2).json()["results"]
    assert {r["case"] for r in by_image} == {"MPX0003", "MPX0006"}
    first = by_image[0]
    assert first["diagnosis"] == "Meningioma" and first["sections"]["findings"]
    assert first["items"][0]["thumbnail_url"].startswith("/api/items/") and "image_path" not in first["items"][0]


def test_case_view_and_item_case(client):
    view = client.get("/api/case", params={"archive": "medpix", "case": "MPX0004"}).json()
    assert view["diagnosis"] == "Glioblastoma" and len(view["items"]) == 3
    assert view["sections"]["history"].startswith("43-year-old")
    assert "patient" not in str(view).lower()
    item_id = view["items"][0]["item_id"]
    assert client.get(f"/api/items/{item_id}/case").json()["case"] == "MPX0004"
    missing = client.get("/api/case", params={"archive": "medpix", "case": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_diverse_and_different_diagnosis(client, meningioma_png):
    diverse = client.get("/api/diverse", params={"q": "meningioma", "k": 5}).json()["results"]
    assert len(diverse) == 5
    item_ids = [r["item_id"] for r in diverse]
    cases = {client.get(f"/api/items/{i}/case").json()["case"] for i in item_ids}
    assert len(cases) == 5
    diff = _post(client, "/api/different-diagnosis", meningioma_png).json()
    assert diff["reference_diagnosis"] == "Meningioma"
    assert diff["results"] and all(r["diagnosis"] != "Meningioma" for r in diff["results"])
    by_item = client.get(f"/api/items/{item_ids[0]}/different-diagnosis").json()
    assert by_item["reference_source"].startswith("query case")


def test_draft_and_refusal(client, meningioma_png):
    draft = _post(client, "/api/draft", meningioma_png).json()
    assert draft["status"] == "ok" and draft["citations"][0]["case"] in {"MPX0003", "MPX0006"}
    assert all(s["citation"] in {c["number"] for c in draft["citations"]} for s in draft["findings"])
    refused = _post(client, "/api/draft", meningioma_png, min_score=1.5).json()
    assert refused["status"] == "no_close_case" and refused["text"].startswith("no similar case close enough")
    bad = client.post("/api/draft", content=b"not an image", headers={"content-type": "image/png"})
    assert bad.status_code in (400, 415)


def test_export_cases_html_has_text_images_and_licences(client):
    response = client.post("/api/export/cases/html", json={
        "title": "Brain lesions", "cases": [{"archive": "medpix", "case": "MPX0003"},
                                            {"archive": "medpix", "case": "MPX0004"}],
        "notes": {"MPX0003": "classic dural tail"}})
    assert response.status_code == 200
    html = response.text
    assert "<h1>Brain lesions</h1>" in html and html.count('class="case"') == 2
    assert "Extra-axial dural-based enhancing mass" in html and "classic dural tail" in html
    assert html.count("data:image/png;base64,") == 2 + 3 and "MedPix 2.0: research and education use" in html
    missing = client.post("/api/export/cases/html", json={"cases": [{"archive": "medpix", "case": "zzz"}]})
    assert missing.status_code == 404


def test_a_case_files_header_takes_a_cases_licence_from_its_items_when_the_case_states_none():
    """A PMC article as a case states no licence of its own; its figures do. The header said "licences: CC BY,
    unknown" (and "1 cases") for a file whose every image is CC BY."""
    from types import SimpleNamespace

    from medsearch.serve.export_cases import render_case_file

    figure = SimpleNamespace(key="ROCO_1", text="Right pleural effusion.", licence="CC BY", item_id=1, labels=[],
                             archive="demo", extra={}, image_path=None, modality=None, split=None, case="PMC1")
    view = {"archive": "demo", "case": "PMC1", "licence": None, "sections": {}, "labels": []}
    html = render_case_file("Effusions", [(view, [(figure, None)], None)], [(figure, None, None)])
    header = html[html.index('<p class="meta">'):]
    assert "1 case, 1 figure ·" in header and "licences: CC BY." in header
    assert html.count("Licence: CC BY") == 2  # the case block's and the figure's
