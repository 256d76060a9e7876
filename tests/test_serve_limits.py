"""Server hardening (issue 8 items 9, 10, 12): bomb uploads get a 413 and decode under a concurrency bound,
oversized item ids are refused at the edge, every error path keeps the security headers, /docs works offline."""

from __future__ import annotations

import asyncio
import io
import re
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from medsearch.serve.app import create_app  # noqa: E402
from medsearch.serve.decoding import DecodeSlots  # noqa: E402
from medsearch.serve.settings import ServeSettings  # noqa: E402
from test_serve_support import open_served_index, png_bytes  # noqa: E402

SECURITY_HEADERS = ("x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy")


@pytest.fixture
def index(tmp_path):
    png = tmp_path / "figure.png"
    png.write_bytes(png_bytes((64, 48)))
    return open_served_index(tmp_path / "index", [dict(archive="roco", key="ROCO_1", image_path=str(png),
                                                       text="CT chest.")], tmp_path)


def make_client(index, raise_errors: bool = True, **settings):
    return TestClient(create_app(index, ServeSettings(**settings)), raise_server_exceptions=raise_errors)


def assert_secured(response):
    missing = [h for h in SECURITY_HEADERS if h not in response.headers]
    assert not missing, f"{response.status_code} {response.request.url} lacks {missing}"


def _png(width, height, mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 0).save(buffer, format="PNG")
    return buffer.getvalue()


def _deflated_dicom_bomb(path) -> bytes:
    """20 MB of zero pixels in a Deflated Explicit VR Little Endian file of a few kB."""
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from dicom_factory import write_dicom

    write_dicom(path, np.zeros((3200, 3200), np.uint16))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


# --- item 9: decompression bombs ------------------------------------------------------------------------

def test_deflated_dicom_bomb_upload_is_413(index, tmp_path):
    bomb = _deflated_dicom_bomb(tmp_path / "bomb.dcm")
    with make_client(index, max_decoded_bytes=1024 * 1024) as client:
        response = client.post("/api/search/image", content=bomb, headers={"content-type": "application/dicom"})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "image_too_large" and "inflates to more than" in error["message"]
    assert_secured(response)
    assert not [c for c in index.calls if c[0] == "image"]


def test_png_declaring_more_decoded_bytes_than_the_budget_is_413(index):
    with make_client(index, max_decoded_bytes=100_000) as client:
        response = client.post("/api/search/image", content=_png(400, 400), headers={"content-type": "image/png"})
    assert response.status_code == 413
    assert "160,000 bytes decoded exceeds the limit of 100,000 bytes" in response.json()["error"]["message"]


def test_large_upload_within_budget_is_decoded_reduced(index):
    with make_client(index, decode_max_side=256) as client:
        response = client.post("/api/search/image", content=_png(2000, 1000), headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    [(_, image, *_)] = [c for c in index.calls if c[0] == "image"]
    assert image.size == (250, 125)


def test_concurrent_decodes_are_bounded(monkeypatch):
    running, peak, lock = [0], [0], threading.Lock()

    def slow_load(data, name, **limits):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return limits

    monkeypatch.setattr("medsearch.imaging.load_image_bytes", slow_load)

    async def six_at_once(slots):
        return await asyncio.gather(*(slots.decode(b"x", f"u{i}") for i in range(6)))

    settings = ServeSettings(max_concurrent_decodes=2, max_decoded_bytes=1234, decode_max_side=99)
    results = asyncio.run(six_at_once(DecodeSlots(settings)))
    assert peak[0] == 2
    assert results[0] == {"max_bytes": 1234, "max_side": 99}


# --- item 10: oversized ids, security headers on every error path -----------------------------------------

@pytest.mark.parametrize("url", ["/api/items/99999999999999999999", "/api/items/99999999999999999999/thumbnail",
                                 "/api/items/99999999999999999999/similar", "/api/items/-1"])
def test_oversized_item_id_is_a_json_422_with_security_headers(index, url):
    with make_client(index) as client:
        response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert_secured(response)


def test_oversized_item_id_in_an_export_is_422(index):
    with make_client(index) as client:
        response = client.post("/api/export/html", json={"item_ids": [99999999999999999999]})
    assert response.status_code == 422
    assert_secured(response)


def test_an_unhandled_error_is_a_json_500_with_security_headers(index, monkeypatch):
    def broken(item_id):
        raise RuntimeError("a bug")

    monkeypatch.setattr(index, "item", broken)
    with make_client(index, raise_errors=False) as client:
        response = client.get("/api/items/1")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error" and "a bug" not in response.text
    assert_secured(response)


def test_every_error_status_keeps_the_security_headers(index):
    with make_client(index, token="s3cret", max_upload_bytes=1000) as client:
        auth = {"Authorization": "Bearer s3cret"}
        responses = [
            client.get("/api/items/1"),  # 401
            client.get("/no/such/page"),  # 404
            client.delete("/api/health"),  # 405
            client.post("/api/search/image", content=b"x" * 2000, headers={**auth, "content-type": "image/png"}),  # 413
            client.post("/api/search/image", content=b"x", headers={**auth, "content-type": "text/plain"}),  # 415
            client.get("/api/search", params={"q": "x", "k": "many"}, headers=auth),  # 422
        ]
    assert [r.status_code for r in responses] == [401, 404, 405, 413, 415, 422]
    for response in responses:
        assert_secured(response)
    from medsearch.serve.settings import allowed_hosts_for

    app = create_app(index, ServeSettings(allowed_hosts=allowed_hosts_for("127.0.0.1")))
    with TestClient(app, base_url="http://attacker.example") as rebound:
        response = rebound.get("/api/health")
    assert response.status_code == 400
    assert_secured(response)


# --- item 12: /docs offline ------------------------------------------------------------------------------

def test_docs_reference_only_local_assets_and_they_are_served(index):
    with make_client(index) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        assert "cdn" not in page.text and "https://" not in page.text
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 500, url
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/redoc").status_code == 404  # ReDoc only exists as a CDN bundle: not offered
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    assert_secured(page)
