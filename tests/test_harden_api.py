"""Issue 8, item 16: shareable ?q= links on the page, every target spelling in the API, CLI and Python API, image
upload as a multipart form as well as a raw body."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from medsearch.search import open_index  # noqa: E402
from medsearch.serve.app import create_app  # noqa: E402
from test_serve_browser import browser_page, build_demo_index  # noqa: E402,F401  (browser_page is a fixture)


@pytest.mark.parametrize("spelling, canonical", [("image", "image"), ("images", "image"), ("text", "text"),
                                                 ("report", "text"), ("reports", "text"), ("texts", "text")])
def test_text_search_accepts_every_target_spelling(tiny_client, spelling, canonical):
    response = tiny_client.get("/api/search", params={"q": "fracture case16", "target": spelling, "k": 2})
    assert response.status_code == 200, response.text
    assert response.json()["target"] == canonical
    assert {hit["target"] for hit in response.json()["results"]} == {canonical}


def test_similar_and_image_search_accept_the_cli_spellings(tiny_client, tiny_index):
    _, items = tiny_index
    similar = tiny_client.get("/api/items/3/similar", params={"target": "reports", "k": 2})
    assert similar.status_code == 200 and similar.json()["target"] == "text"
    data = open(items[21]["image_path"], "rb").read()
    upload = tiny_client.post("/api/search/image", params={"target": "images", "k": 1}, content=data,
                         headers={"content-type": "image/png"})
    assert upload.status_code == 200 and upload.json()["target"] == "image"
    assert upload.json()["results"][0]["key"] == "k021"


def test_unknown_target_is_a_422(tiny_client):
    assert tiny_client.get("/api/search", params={"q": "x", "target": "videos"}).status_code == 422


def test_python_api_accepts_the_same_spellings(tiny_index):
    index_dir, _ = tiny_index
    with open_index(index_dir) as idx:
        hits = idx.search_text("fracture case16", k=1, target="reports")
        assert hits[0].target == "text" and hits[0].key == "k016"


def test_cli_accepts_the_api_spellings(tiny_index):
    import json

    from typer.testing import CliRunner

    from medsearch.cli import app

    index_dir, _ = tiny_index
    for spelling, canonical in (("text", "text"), ("texts", "text"), ("image", "image"), ("captions", "text")):
        result = CliRunner().invoke(app, ["query", "fracture case16", "--index", str(index_dir), "--k", "1",
                                          "--target", spelling, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)[0]["target"] == canonical


def test_image_upload_as_a_multipart_form(tiny_client, tiny_index):
    _, items = tiny_index
    data = open(items[21]["image_path"], "rb").read()
    form = tiny_client.post("/api/search/image", params={"k": 3, "target": "image"},
                       files={"file": ("query.png", data, "image/png")})
    assert form.status_code == 200, form.text
    raw = tiny_client.post("/api/search/image", params={"k": 3, "target": "image"}, content=data,
                      headers={"content-type": "image/png"})
    assert [h["key"] for h in form.json()["results"]] == [h["key"] for h in raw.json()["results"]]
    assert form.json()["results"][0]["key"] == "k021"


def test_multipart_form_without_a_file_or_too_large_is_refused(tiny_index):
    index_dir, items = tiny_index
    from medsearch.serve.settings import ServeSettings

    with TestClient(create_app(lambda: open_index(index_dir), ServeSettings(max_upload_bytes=1000))) as small:
        no_file = small.post("/api/search/image", data={"note": "hello"},
                             files={"other": ("x.txt", b"", "text/plain")})
        assert no_file.status_code == 400 and no_file.json()["error"]["code"] == "empty_upload"
        big = small.post("/api/search/image", files={"file": ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * 5000,
                                                                "image/png")})
        assert big.status_code == 413


def test_openapi_documents_the_multipart_upload(tiny_client):
    body = tiny_client.get("/openapi.json").json()["paths"]["/api/search/image"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/png" in body


@pytest.mark.browser
def test_page_runs_the_search_in_its_address(browser_page, tmp_path):
    """/?q=... fills the box and searches (a shareable link); a search typed on the page updates the address."""
    from playwright.sync_api import expect
    from test_serve_support import LiveServer

    page, problems = browser_page
    index_dir = build_demo_index(tmp_path / "index")
    with LiveServer(create_app(lambda: open_index(index_dir))) as url:
        page.goto(url + "/?q=fracture%20of%20the%20hip&target=reports")
        page.wait_for_selector(".card")
        expect(page.locator("#q")).to_have_value("fracture of the hip")
        assert "reports for “fracture of the hip”" in page.inner_text("#status")
        page.fill("#q", "pleural effusion")
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_contain_text("pleural effusion")
        assert "q=pleural+effusion" in page.url and "target=text" in page.url
    assert problems == []
