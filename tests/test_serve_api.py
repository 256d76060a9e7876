"""The serve API over a real index of three chosen items (fake encoder, FastAPI TestClient): search, items,
thumbnails, uploads, tokens, privacy."""

from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from medsearch.errors import MissingExtra, UnsafeBind  # noqa: E402
from medsearch.serve.app import create_app  # noqa: E402
from medsearch.serve.settings import ServeSettings, check_bind  # noqa: E402
from medsearch.store.filters import Filters  # noqa: E402
from test_serve_support import (PHI, jpeg_bytes, open_served_index, png_bytes, store_unchecked_extra,  # noqa: E402
                                write_dicom)


@pytest.fixture
def records(tmp_path):
    """Items 1, 2, 3 of the served index: a figure, a DICOM radiograph, a report without image."""
    png = tmp_path / "figure.png"
    png.write_bytes(png_bytes((300, 200)))
    dcm = write_dicom(tmp_path / "chest.dcm")
    return [
        dict(archive="roco", key="ROCO_1", image_path=str(png),
             text="CT of the chest shows a <b>pneumothorax</b> on the right.",
             labels=["pneumothorax", "C0032326", "T047:Disease or Syndrome"], split="test", licence="CC BY",
             modality="CT", extra={"pmc_id": "PMC123", "image_relpath": "images/figure.png"}),
        dict(archive="dicom-folder", key="1.2.3.4", image_path=str(dcm), text="Chest radiograph.", labels=["fracture"],
             patient="3fa9c0d1e2b4a5f6", split="test", licence="CC BY-NC", modality="CR"),
        dict(archive="iu-xray", key="CXR9", image_path=None, text="No acute cardiopulmonary abnormality.",
             labels=["normal"], split="test", licence="CC BY", modality=None),
    ]


DICOM_EXTRA = {**PHI, "patient_key": "3fa9c0d1e2b4a5f6", "BodyPartExamined": "CHEST",
               "nested": {"OperatorsName": "Smith^Op", "ViewPosition": "PA"}}


def served_index(tmp_path, records):
    """A real Index of the records (calls recorded); item 2's extra holds patient data, as an old index may."""
    index = open_served_index(tmp_path / "index", records, tmp_path)
    store_unchecked_extra(tmp_path / "index", "1.2.3.4", {**DICOM_EXTRA, "source_path": records[1]["image_path"]})
    return index


@pytest.fixture
def index(tmp_path, records):
    return served_index(tmp_path, records)


def make_client(index, **settings):
    return TestClient(create_app(index, ServeSettings(**settings)))


@pytest.fixture
def client(index):
    with make_client(index) as c:
        yield c


def error_of(response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


# --- page, health, info -------------------------------------------------------------------------------

def test_health_is_ok(client):
    response = client.get("/api/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_page_and_assets_are_served_with_a_strict_csp(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="search-form"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # nothing loaded from elsewhere
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_the_docs_page_reads_the_api_document_in_openapi_3_0_terms(client):
    own = client.get("/openapi.json").json()
    docs = client.get("/docs/openapi.json").json()
    assert own["openapi"].startswith("3.1") and docs["openapi"] == "3.0.3"
    assert set(docs["paths"]) == set(own["paths"])
    assert '{"type": "null"}' in json.dumps(own) and '{"type": "null"}' not in json.dumps(docs)
    assert "prefixItems" not in json.dumps(docs) and '"const"' not in json.dumps(docs)
    hit = docs["components"]["schemas"]["Hit"]["properties"]
    assert hit["dense_score"]["type"] == "number" and hit["dense_score"]["nullable"] is True
    assert "url: '/docs/openapi.json'" in client.get("/docs").text


def test_openapi_documents_the_endpoints(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/search", "/api/search/image", "/api/items/{item_id}", "/api/items/{item_id}/thumbnail",
            "/api/items/{item_id}/similar", "/api/export/html", "/api/health", "/api/info"} <= set(paths)
    facet = schema["components"]["schemas"]["FacetValue"]
    assert facet["properties"]["count"]["type"] == "integer" and "count" in facet["required"]  # a count, never null


def test_info_gives_model_counts_and_normalised_facets_but_no_paths(client, index):
    body = client.get("/api/info").json()
    counts = {name: body["counts"][name] for name in ("image", "text")}
    assert body["model"] == "fake" and body["dim"] == 32 and counts == {"image": 2, "text": 3}
    assert body["targets"] == ["image", "text"]
    # the stored "CR" is counted under its canonical code, with its display name; item 3 has no modality
    assert body["facets"]["modality"] == [{"value": "CT", "count": 1, "label": None},
                                          {"value": "XR", "count": 1, "label": "X-ray"},
                                          {"value": "unknown", "count": 1, "label": None}]
    assert {"value": "pneumothorax", "count": 1, "label": None} in body["facets"]["labels"]
    assert body["facets"]["licence"][0] == {"value": "CC BY", "count": 2, "label": None}
    assert str(index.path) not in json.dumps(body) and index.db_url not in json.dumps(body)


# --- text search ----------------------------------------------------------------------------------------

def test_text_search_returns_ranked_hits_with_snippet_licence_and_thumbnail(client, index):
    response = client.get("/api/search", params={"q": "pneumothorax", "k": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "pneumothorax" and body["target"] == "image"
    assert [h["item_id"] for h in body["results"]] == [1, 2]
    first = body["results"][0]
    assert index.calls == [("text", "pneumothorax", 2, "image", None)]
    own = index.search_text("pneumothorax", k=2, target="image")  # the index's own answer, score rounded
    assert first["rank"] == 1 and first["score"] == pytest.approx(round(own[0].score, 4))
    assert first["licence"] == "CC BY" and first["thumbnail_url"] == "/api/items/1/thumbnail"
    assert first["snippet"].startswith("CT of the chest")


def test_text_search_passes_filters_and_target(client, index):
    response = client.get("/api/search", params=[("q", "chest"), ("target", "text"), ("modality", "CT"),
                                                 ("labels", "pneumothorax"), ("labels", "effusion"),
                                                 ("licence", "CC BY*")])
    assert response.status_code == 200
    _, _, _, target, filters = index.calls[-1]
    assert target == "text"
    assert filters == Filters(modality="CT", labels=["pneumothorax", "effusion"], split=None, licence="CC BY*")
    assert [h["item_id"] for h in response.json()["results"]] == [
        h.item_id for h in index.search_text("chest", target="text", filters=filters)]
    # no item has both labels; with one of them the filters pick item 1 alone out of the three
    matching = client.get("/api/search", params=[("q", "chest"), ("target", "text"), ("modality", "CT"),
                                                 ("labels", "pneumothorax"), ("licence", "CC BY*")])
    assert [h["item_id"] for h in matching.json()["results"]] == [1]


def test_text_only_hit_has_no_thumbnail(client):
    hits = client.get("/api/search", params={"q": "normal", "target": "text"}).json()["results"]
    report = next(h for h in hits if h["item_id"] == 3)
    assert report["has_image"] is False and report["thumbnail_url"] is None


def test_a_search_that_finds_nothing_still_names_its_mode(client):
    # the library's default mode ran (hybrid): the response said "mode": null when no hit carried one
    body = client.get("/api/search", params={"q": "chest", "split": "nope"}).json()
    assert body["results"] == [] and body["mode"] == "hybrid"
    assert client.get("/api/search", params={"q": "chest", "split": "nope", "mode": "lexical"}).json()["mode"] == \
        "lexical"


@pytest.mark.parametrize("path, method, query", [
    ("/api/search", "get", {"q": "chest"}), ("/api/items/1/similar", "get", {}),
    ("/api/diverse", "get", {"q": "chest"}), ("/api/cases", "get", {"q": "chest"}),
    ("/api/search/image", "post", {}),
])
def test_a_filter_value_no_item_has_is_named_when_nothing_is_found(client, path, method, query):
    """A typo in a filter value found nothing in silence (200, no results); the response says which value no item
    of the index has and the values it does have, as the CLI does on stderr."""
    params = {**query, "modality": "ultrasound", "split": "nope", "licence": "CC BY*"}
    if method == "get":
        response = client.get(path, params=params)
    else:
        response = client.post(path, params=params, content=png_bytes(), headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] == []
    assert body["notices"] == ["no item in this index has modality 'ultrasound' (it has: CT, XR, unknown)",
                               "no item in this index has split 'nope' (it has: test)"]


def test_notices_are_empty_when_the_filter_values_exist(client):
    body = client.get("/api/search", params={"q": "chest", "modality": "CT"}).json()
    assert body["results"] and body["notices"] == []
    nothing = client.get("/api/search", params={"q": "chest", "modality": "CT", "labels": "fracture"}).json()
    assert nothing["results"] == [] and nothing["notices"] == []  # each value exists; together they match none


@pytest.mark.parametrize("params, status, code", [
    ({"q": "   "}, 400, "bad_query"),
    ({"q": "chest", "k": 0}, 422, "invalid_request"),
    ({"q": "chest", "k": 1000}, 422, "invalid_request"),
    ({"q": "chest", "target": "video"}, 422, "invalid_request"),
    ({}, 422, "invalid_request"),
])
def test_bad_text_queries_get_a_json_error(client, params, status, code):
    response = client.get("/api/search", params=params)
    assert response.status_code == status
    assert error_of(response)["code"] == code


@pytest.mark.parametrize("path, params", [
    ("/api/search", {"q": "chest"}), ("/api/items/1/similar", {}), ("/api/diverse", {"q": "chest"}),
    ("/api/cases", {"q": "chest"}), ("/api/items/1/different-diagnosis", {}),
])
def test_every_route_that_takes_k_holds_the_servers_limit(index, path, params):
    # one limit (ServeSettings.max_k) for every route: "more like this" once had a fixed 100 of its own
    with make_client(index, max_k=3) as client:
        refused = client.get(path, params={**params, "k": 4})
        assert refused.status_code == 422 and error_of(refused)["message"] == "k must be between 1 and 3"
        assert client.get(path, params={**params, "k": 3}).status_code != 422


# --- items and thumbnails -------------------------------------------------------------------------------

def test_item_detail_names_its_case_so_the_page_asks_for_a_case_only_when_there_is_one(client, tmp_path, records):
    assert client.get("/api/items/1").json()["case"] is None
    with make_client(open_served_index(tmp_path / "cased", [{**records[0], "case": "PMC123"}], tmp_path)) as cased:
        assert cased.get("/api/items/1").json()["case"] == "PMC123"
        assert cased.get("/api/items/1/case").json()["case"] == "PMC123"


def test_a_different_diagnosis_without_a_reference_names_the_http_parameter_not_the_cli_option(tmp_path, records):
    plain = {**records[0], "labels": [], "case": "PMC123"}
    with make_client(open_served_index(tmp_path / "cased", [plain], tmp_path)) as client:
        response = client.get("/api/items/1/different-diagnosis")
        assert response.status_code == 400
        message = error_of(response)["message"]
        assert "has no diagnosis or labels to differ from" in message
        assert "--diagnosis" not in message and "diagnosis=TEXT" in message  # said "name one with --diagnosis TEXT"
        named = client.get("/api/items/1/different-diagnosis", params={"diagnosis": "meningioma"})
        assert named.status_code == 200 and named.json()["reference_diagnosis"] == "meningioma"


def test_item_detail_has_text_labels_licence_and_attribution(client):
    body = client.get("/api/items/1").json()
    assert body["text"] == "CT of the chest shows a <b>pneumothorax</b> on the right."
    assert sorted(body["labels"]) == sorted(["pneumothorax", "C0032326", "T047:Disease or Syndrome"])
    assert body["licence"] == "CC BY"
    assert body["attribution"] == {"archive": "roco", "key": "ROCO_1", "licence": "CC BY", "pmc_id": "PMC123",
                                   "image_relpath": "images/figure.png"}


def test_item_detail_never_shows_patient_data_or_server_paths(client, tmp_path):
    response = client.get("/api/items/2")
    assert response.status_code == 200
    text = response.text
    for value in [*PHI.values(), "Smith^Op", "3fa9c0d1e2b4a5f6", str(tmp_path)]:
        assert value not in text
    for key in ["PatientName", "PatientID", "patient_key", "OperatorsName", "image_path", '"patient"']:
        assert key not in text
    metadata = response.json()["metadata"]
    assert metadata == {"BodyPartExamined": "CHEST", "nested": {"ViewPosition": "PA"}}


def test_unknown_item_is_a_json_404(client):
    for url in ("/api/items/999", "/api/items/999/thumbnail", "/api/items/999/similar"):
        response = client.get(url)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_an_absent_item_is_404_but_a_failing_database_stays_a_5xx(index):
    import sqlite3

    with make_client(index) as client:
        missing = client.get("/api/items/999")
        assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
        with sqlite3.connect(index.db_url.removeprefix("sqlite:///")) as connection:
            connection.execute("DROP TABLE texts")  # the store can no longer answer: a database failure
        for url in ("/api/items/1", "/api/items/999"):
            broken = client.get(url)
            assert broken.status_code == 500 and error_of(broken)["code"] == "store_error", url


def test_item_ids_only_no_paths(client):
    response = client.get("/api/items/etc-passwd/thumbnail")
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_request"
    assert "root:" not in client.get("/api/items/..%2F..%2F..%2Fetc%2Fpasswd").text
    assert client.get("/static/../serve/app.py").status_code == 404


@pytest.mark.parametrize("item_id", [1, 2])
def test_thumbnail_is_a_png_rendered_from_the_indexed_file(client, item_id):
    response = client.get(f"/api/items/{item_id}/thumbnail", params={"size": 64})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and max(image.size) <= 64
    assert client.get(f"/api/items/{item_id}/thumbnail", params={"size": 64}).content == response.content


def test_thumbnail_of_a_report_only_item_is_404(client):
    response = client.get("/api/items/3/thumbnail")
    assert response.status_code == 404 and error_of(response)["code"] == "no_image"


def test_thumbnail_of_a_file_gone_since_indexing_is_404(client, records):
    from pathlib import Path

    Path(records[0]["image_path"]).unlink()
    response = client.get("/api/items/1/thumbnail", params={"size": 77})
    assert response.status_code == 404 and error_of(response)["code"] == "image_missing"


def test_more_like_this_leaves_the_item_out_and_renumbers(client, index):
    body = client.get("/api/items/1/similar", params={"k": 5, "target": "text"}).json()
    assert [h["item_id"] for h in body["results"]] == [2, 3]
    assert [h["rank"] for h in body["results"]] == [1, 2]
    kind, item_id, *_ = index.calls[-1]
    assert (kind, item_id) == ("similar", 1)  # the item's stored vector is the query: nothing is re-encoded


# --- image upload ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["png", "jpeg", "dicom"])
def test_image_search_accepts_png_jpeg_and_dicom(client, index, kind, tmp_path):
    data = {"png": lambda: png_bytes(), "jpeg": jpeg_bytes,
            "dicom": lambda: write_dicom(tmp_path / "q.dcm").read_bytes()}[kind]()
    content_type = {"png": "image/png", "jpeg": "image/jpeg", "dicom": "application/dicom"}[kind]
    response = client.post("/api/search/image", params={"k": 2, "target": "text"}, content=data,
                           headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["target"] == "text" and len(response.json()["results"]) == 2
    call_kind, image, k, target, _ = index.calls[-1]
    assert (call_kind, k, target) == ("image", 2, "text")
    assert isinstance(image, Image.Image) and image.mode == "RGB"


def test_an_image_search_returns_reports_unless_asked_for_images(client, index):
    # as the CLI's `query --image` and Python's search_image do (README: an image finds reports and similar images)
    response = client.post("/api/search/image", params={"k": 2}, content=png_bytes(), headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["target"] == "text" and index.calls[-1][3] == "text"


def test_upload_without_content_type_is_sniffed(client):
    response = client.post("/api/search/image", content=png_bytes(), headers={"content-type": ""})
    assert response.status_code == 200


@pytest.mark.parametrize("body, content_type, status, code", [
    (b"hello, not an image", "text/plain", 415, "unsupported_media_type"),
    (b"hello, not an image", "application/octet-stream", 415, "unsupported_media_type"),
    (b"", "image/png", 400, "empty_upload"),
    (png_bytes((200, 200))[:120], "image/png", 422, "bad_image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "image/jpeg", 422, "bad_image"),
])
def test_bad_uploads_get_a_clear_json_4xx(client, index, body, content_type, status, code):
    response = client.post("/api/search/image", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code and error["message"]
    assert not [c for c in index.calls if c[0] == "image"]


def test_oversized_upload_is_413(index):
    with make_client(index, max_upload_bytes=1000) as small:
        response = small.post("/api/search/image", content=png_bytes((256, 256)), headers={"content-type": "image/png"})
    assert response.status_code == 413
    assert error_of(response) == {"status": 413, "code": "upload_too_large",
                                  "message": "the upload is larger than the 1000 bytes limit"}


def test_oversized_upload_without_length_header_is_413(index):
    def chunks():
        for _ in range(4):
            yield b"\x89PNG\r\n\x1a\n" + b"\x00" * 500

    with make_client(index, max_upload_bytes=1000) as small:
        response = small.post("/api/search/image", content=chunks(), headers={"content-type": "image/png"})
    assert response.status_code == 413 and error_of(response)["code"] == "upload_too_large"


# --- export ---------------------------------------------------------------------------------------------

def test_export_html_embeds_images_captions_licences_and_no_phi(client, tmp_path):
    response = client.post("/api/export/html", json={"item_ids": [2, 1, 3], "title": "Chest <cases>",
                                                     "notes": {"1": "Look at the apex."}})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "attachment" in response.headers["content-disposition"]
    html = response.text
    assert html.count("data:image/png;base64,") == 2  # item 3 is a report without image
    assert "Chest &lt;cases&gt;" in html and "<cases>" not in html
    assert "&lt;b&gt;pneumothorax&lt;/b&gt;" in html  # captions are escaped, not markup
    assert "Look at the apex." in html
    assert '<a href="https://www.ncbi.nlm.nih.gov/pmc/articles/PMC123/">PMC123</a>' in html
    # the chips the page shows: finding names; not codes, nor UMLS semantic types ("Body Part, Organ, or Organ
    # Component" on a demo figure, where the page said "fracture", "hip")
    assert html.count("<span>pneumothorax</span>") == 1 and "C0032326" not in html
    assert "Disease or Syndrome" not in html and "<span>fracture</span>" in html
    assert "Licence: CC BY-NC" in html and "Licence: CC BY" in html
    assert html.index("item-2") < html.index("item-1") < html.index("item-3")  # author's order
    for value in [*PHI.values(), "Smith^Op", "3fa9c0d1e2b4a5f6", str(tmp_path), "src=\"http"]:
        assert value not in html


def test_export_of_an_unknown_item_or_nothing_is_a_json_error(client):
    assert client.post("/api/export/html", json={"item_ids": [1, 999]}).status_code == 404
    response = client.post("/api/export/html", json={"item_ids": []})
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_request"


# --- access token ---------------------------------------------------------------------------------------

@pytest.fixture
def locked(index):
    with make_client(index, token="s3cret-token") as c:
        yield c


@pytest.mark.parametrize("method, url", [
    ("get", "/api/search?q=chest"), ("get", "/api/items/1"), ("get", "/api/items/1/thumbnail"),
    ("get", "/api/items/1/similar"), ("get", "/api/info"), ("post", "/api/search/image"),
    ("post", "/api/export/html"),
])
def test_token_is_required_when_configured(locked, method, url):
    response = getattr(locked, method)(url)
    assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    wrong = getattr(locked, method)(url, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_bearer_token_opens_the_api_and_health_stays_open(locked):
    assert locked.get("/api/health").status_code == 200
    ok = locked.get("/api/search", params={"q": "chest"}, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and ok.json()["results"]


def test_session_cookie_from_the_token_authorises_thumbnails(locked):
    assert locked.post("/api/session", json={"token": "wrong"}).status_code == 401
    response = locked.post("/api/session", json={"token": "s3cret-token"})
    assert response.status_code == 204
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    assert locked.get("/api/items/1/thumbnail").status_code == 200


def test_loopback_server_refuses_foreign_host_headers(index):
    from medsearch.serve.settings import allowed_hosts_for

    app = create_app(index, ServeSettings(allowed_hosts=allowed_hosts_for("127.0.0.1")))
    with TestClient(app, base_url="http://attacker.example") as rebound:
        assert rebound.get("/api/search", params={"q": "chest"}).status_code == 400
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/api/search", params={"q": "chest"}).status_code == 200
    assert allowed_hosts_for("0.0.0.0") is None


def test_binding_beyond_loopback_needs_a_token():
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    check_bind("0.0.0.0", "t")
    for host in ("0.0.0.0", "192.168.1.5", "example.org"):
        with pytest.raises(UnsafeBind, match=f"refusing to listen on {host} without an access token"):
            check_bind(host, None)


def test_serve_command_refuses_a_public_bind_without_token_in_one_line(capsys, monkeypatch, tmp_path):
    from medsearch.cli import main

    monkeypatch.delenv("MEDSEARCH_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--index", str(tmp_path), "--host", "0.0.0.0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: refusing to listen on 0.0.0.0 without an access token — pass --token T "
                   "(or set MEDSEARCH_TOKEN), or bind to 127.0.0.1")


def test_serve_flags_set_the_upload_decode_limits(monkeypatch, tiny_index):
    import uvicorn

    from medsearch.cli import main
    from medsearch.serve.settings import MB

    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: served.append(server.config.app))
    main(["serve", "--index", str(tiny_index[0]), "--model", "fake", "--max-decoded-mb", "64",
          "--max-concurrent-decodes", "3", "--decode-max-side", "512", "--max-upload-mb", "5"])
    with TestClient(served[0]) as started:  # the routes' settings are the services' (made at start-up)
        settings = started.app.state.services.settings
    assert (settings.max_decoded_bytes, settings.max_concurrent_decodes, settings.decode_max_side,
            settings.max_upload_bytes) == (64 * MB, 3, 512, 5 * MB)


def test_serve_says_the_port_it_listens_on(monkeypatch, tiny_index, capsys):
    # `serve --port 0` (any free port) printed "on http://127.0.0.1:0/": the port asked for, not the one bound
    import socket

    import uvicorn

    from conftest import run_main

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(kwargs["port"]))  # the old way
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: served.extend(sockets))
    code, _, err = run_main(capsys, "serve", "--index", str(tiny_index[0]), "--model", "fake", "--port", "0")
    assert code == 0, err
    (listening,) = served
    port = listening.getsockname()[1]
    assert port != 0 and f"on http://127.0.0.1:{port}/" in err, err
    with socket.create_connection(("127.0.0.1", port), timeout=5):  # bound and listening before uvicorn starts
        pass
    code, _, err = run_main(capsys, "serve", "--index", str(tiny_index[0]), "--model", "fake", "--port", str(port))
    assert code == 2 and err.startswith(f"error: cannot listen on 127.0.0.1:{port}: "), err  # in use: one line
    listening.close()


def test_missing_serve_extra_gives_a_one_line_hint(monkeypatch):
    import sys

    from medsearch.commands.serve import _require_serve_extra

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(MissingExtra) as exc_info:
        _require_serve_extra()
    assert exc_info.value.one_line() == ("`medsearch serve` needs uvicorn, which is not installed — "
                                         "pip install 'medsearch[serve]'")


# --- lifespan -------------------------------------------------------------------------------------------

def test_a_factory_opens_the_index_once_at_start_and_it_is_closed_at_stop(tmp_path, records):
    opened = []

    def factory():
        opened.append(served_index(tmp_path, records))
        return opened[-1]

    app = create_app(factory)
    assert opened == []
    with TestClient(app) as c:
        assert len(opened) == 1 and opened[0].calls[0][0] == "text"  # warmed up once
        c.get("/api/search", params={"q": "a"})
        c.get("/api/search", params={"q": "b"})
        assert len(opened) == 1 and not opened[0].closed
    assert opened[0].closed
