"""End to end in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): search by words,
open an item, search by an uploaded and a dropped image, more like this, build a collection, export it."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
# The page runs under a strict CSP (no eval): waits use Playwright's expect(), never wait_for_function.

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT_ENV = "MEDSEARCH_SCREENSHOT_TO"  # also copy the screenshot there (benchmarks/results/ for the record)


@pytest.fixture
def browser_page(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium "
                    "(apt-get install -y chromium chromium-driver); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no `playwright install`)")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            accept_downloads=True, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            yield page, problems
        finally:
            context.close()


def test_search_detail_upload_collection_and_export(browser_page, live_url, query_words, query_png, tmp_path):
    from playwright.sync_api import expect

    page, problems = browser_page
    page.goto(live_url + "/")
    expect(page.locator("#index-info")).to_contain_text("fake")

    # words -> images, with thumbnails that actually load
    page.fill("#q", query_words)
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    assert "for “" + query_words + "”" in page.inner_text("#status")
    first_card = page.locator(".card").first
    expect(first_card.locator("img")).to_have_js_property("complete", True)
    assert first_card.locator("img").evaluate("img => img.naturalWidth") > 0
    snippet = first_card.locator(".snippet").inner_text()
    assert snippet and "Licence:" in first_card.locator(".licence").inner_text()

    # item detail: full text, licence, image
    first_card.locator("button.details").click()
    page.wait_for_selector("#detail[open]")
    assert page.inner_text("#detail-text").startswith(snippet.rstrip("…")[:40])
    assert page.inner_text("#detail-licence").startswith("Licence: ")
    expect(page.locator("#detail-image")).to_have_js_property("complete", True)
    assert page.locator("#detail-image").evaluate("img => img.naturalWidth") > 0
    page.click("#detail-add")
    expect(page.locator("#collection-count")).to_have_text("1")
    page.click("#detail-close")

    # image upload (file chooser) -> results
    page.set_input_files("#file-input", str(query_png))
    expect(page.locator("#status")).to_contain_text("for the image query.png")
    assert page.locator(".card").count() > 0

    # drag and drop onto the drop zone
    png64 = base64.b64encode(query_png.read_bytes()).decode()
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
        document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    }""", png64)
    expect(page.locator("#status")).to_contain_text("for the image dropped.png")

    # more like this, then add another item to the collection
    page.locator(".card button.similar").first.click()
    expect(page.locator("#status")).to_contain_text("(more like this)")
    page.wait_for_selector(".card")
    page.locator(".card button.add", has_text="Add to collection").first.click()
    expect(page.locator("#collection-count")).to_have_text("2")
    page.fill("#collection-title", "Chest teaching file")
    page.locator("#collection-title").dispatch_event("change")
    page.locator("#collection-list input").first.fill("Note the apex.")
    page.locator("#collection-list input").first.dispatch_event("change")

    # exports: JSON (client side) and the self-contained HTML teaching file (server side)
    with page.expect_download() as download_info:
        page.click("#export-json")
    exported = json.loads(Path(download_info.value.path()).read_text())
    assert exported["title"] == "Chest teaching file" and len(exported["items"]) == 2
    assert exported["items"][0]["note"] == "Note the apex." and exported["items"][0]["licence"]
    with page.expect_download() as download_info:
        page.click("#export-html")
    html = Path(download_info.value.path()).read_text()
    assert "<h1>Chest teaching file</h1>" in html and "Note the apex." in html
    assert html.count('src="data:image/png;base64,') == 2 and "Licence: " in html

    # the collection survives a reload (localStorage)
    page.reload()
    expect(page.locator("#collection-count")).to_have_text("2")
    expect(page.locator("#collection-title")).to_have_value("Chest teaching file")

    page.fill("#q", query_words)
    page.press("#q", "Enter")
    page.wait_for_selector(".card img")
    for img in page.locator(".card img").all():
        expect(img).to_have_js_property("complete", True)
    shot = tmp_path / "serve_screenshot.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, os.environ[SCREENSHOT_ENV])
    assert problems == []


@pytest.fixture
def query_png(tmp_path):
    from test_serve_support import png_bytes

    path = tmp_path / "query.png"
    path.write_bytes(png_bytes((96, 96), seed=7))
    return path


@pytest.fixture
def query_words():
    return "fracture of the hip"


DEMO_ITEMS = 40  # of the packaged demo archive (real CC BY ROCO figures)


@pytest.fixture
def live_url(tmp_path):
    from test_serve_support import LiveServer

    from medsearch.search import open_index
    from medsearch.serve.app import create_app

    index_dir = build_demo_index(tmp_path / "index")
    with LiveServer(create_app(lambda: open_index(index_dir))) as url:
        yield url


def build_demo_index(index_dir: Path) -> Path:
    """A real index (indexer pipeline, fake encoder) over the first DEMO_ITEMS items of the demo archive."""
    from indexer.pipeline import build_index

    from medsearch.archives import open_archive
    from medsearch.models.fake import FakeEncoder

    build_index(open_archive("demo"), index_dir, FakeEncoder(), limit=DEMO_ITEMS, workers=0, progress=False,
                model_name="fake")
    return index_dir
