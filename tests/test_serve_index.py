"""The serve API over a real index (open_index: faiss + store + fake encoder), not a stub."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("fastapi")
from PIL import Image  # noqa: E402

from medsearch.search import open_index  # noqa: E402


def test_info_reports_the_model_counts_and_facets(tiny_client):
    body = tiny_client.get("/api/info").json()
    assert body["model"] == "fake" and body["dim"] == 32 and body["counts"]["items"] == 118
    assert {f["value"] for f in body["facets"]["modality"]} == {"CT", "MR", "XR"}  # stored "CR" merged as XR
    assert "pneumothorax" in {f["value"] for f in body["facets"]["labels"]}


def test_text_to_text_finds_the_caption(tiny_client):
    hits = tiny_client.get("/api/search", params={"q": "fracture case16", "target": "text", "k": 3}).json()["results"]
    assert hits[0]["key"] == "k016" and hits[0]["target"] == "text"
    assert hits[0]["snippet"] == "fracture seen on the scan case16"  # the sentence that matched
    assert [hits[0]["snippet"][a:b] for a, b in hits[0]["highlights"]] == ["fracture", "case16"]
    assert hits[0]["score"] > hits[1]["score"]


def test_filters_restrict_results(tiny_client):
    params = [("q", "scan"), ("k", 20), ("modality", "CT"), ("labels", "followup"), ("licence", "CC BY*")]
    hits = tiny_client.get("/api/search", params=params).json()["results"]
    assert hits
    for hit in hits:
        assert hit["modality"] == "CT" and "followup" in hit["labels"] and hit["licence"].startswith("CC BY")


def test_uploaded_image_finds_itself(tiny_client, tiny_index):
    _, items = tiny_index
    data = open(items[21]["image_path"], "rb").read()
    response = tiny_client.post("/api/search/image", params={"k": 3, "target": "image"}, content=data,
                           headers={"content-type": "image/png"})
    assert response.status_code == 200
    assert response.json()["results"][0]["key"] == "k021"
    assert response.json()["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)


def test_more_like_this_leaves_the_item_out(tiny_client, tiny_index):
    hits = tiny_client.get("/api/search", params={"q": "nodule case11", "target": "text", "k": 1}).json()["results"]
    item_id = hits[0]["item_id"]
    similar = tiny_client.get(f"/api/items/{item_id}/similar", params={"k": 5, "target": "text"}).json()["results"]
    assert len(similar) == 5 and item_id not in [h["item_id"] for h in similar]
    assert [h["rank"] for h in similar] == [1, 2, 3, 4, 5]


def test_item_detail_and_thumbnail_of_a_real_item(tiny_client):
    hit = tiny_client.get("/api/search", params={"q": "cardiomegaly case2", "target": "text", "k": 1}).json()["results"][0]
    detail = tiny_client.get(f"/api/items/{hit['item_id']}").json()
    assert detail["key"] == "k002" and detail["archive"] == "tiny" and detail["labels"] == ["cardiomegaly"]
    assert detail["text"].startswith("cardiomegaly seen on the scan case2")
    png = tiny_client.get(detail["thumbnail_url"], params={"size": 64})
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (16, 16)  # never enlarged


def test_export_html_of_real_items(tiny_client):
    ids = [h["item_id"] for h in tiny_client.get("/api/search", params={"q": "scan", "k": 3}).json()["results"]]
    html = tiny_client.post("/api/export/html", json={"item_ids": ids, "title": "Tiny"}).text
    assert html.count("data:image/png;base64,") == 3 and "Source: tiny / k0" in html


def test_more_like_this_matches_index_search_similar(tiny_client, tiny_index):
    item_id = tiny_client.get("/api/search", params={"q": "effusion case13", "target": "text", "k": 1}).json()["results"][0]["item_id"]
    served = tiny_client.get(f"/api/items/{item_id}/similar", params={"k": 4, "target": "image"}).json()["results"]
    with open_index(tiny_index[0]) as index:
        expected = index.search_similar(item_id, k=4, target="image")
    assert [h["item_id"] for h in served] == [h.item_id for h in expected]
    assert [h["score"] for h in served] == pytest.approx([h.score for h in expected], abs=1e-4)


def run_cli(*args, **kwargs):
    import subprocess
    import sys

    code = "import sys; from medsearch.cli import main; main(sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def test_serve_command_serves_the_index_on_loopback(tiny_index):
    import time

    import httpx
    from test_serve_support import free_port

    port = free_port()
    proc = run_cli("serve", "--index", str(tiny_index[0]), "--port", str(port))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        hits = httpx.get(url + "/api/search", params={"q": "nodule case5", "target": "text"}).json()["results"]
        assert hits[0]["key"] == "k005"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_command_with_a_missing_index_fails_in_one_line(tmp_path):
    proc = run_cli("serve", "--index", str(tmp_path / "nothing"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 5
    assert err.strip().splitlines() == [f"error: no index at {tmp_path / 'nothing'} (manifest.json is missing) — "
                                        "build one with `medsearch index --manifest NAME --root DIR --index DIR`"]
