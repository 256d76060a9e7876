"""End to end in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): search by words,
open an item, search by an uploaded and a dropped image, more like this, build a collection, export it."""

from __future__ import annotations

import base64
import json
import os
import re
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
    # the query's words are marked in the snippets of the captions that contain them
    marked = [m.lower() for m in page.locator(".card .snippet mark").all_inner_texts()]
    assert marked and set(marked) <= {"fracture", "fractures", "hip", "hips", "fractured"}

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
    from indexer.pipeline import IndexOptions, build_index

    from medsearch.archives import open_archive
    from medsearch.models import load_encoder

    build_index(open_archive("demo"), index_dir, load_encoder("fake", device="cpu"),
                IndexOptions(limit=DEMO_ITEMS, workers=0, progress=False))
    return index_dir


@pytest.fixture
def medpix_live_url(tmp_path):
    """A live server over a tiny MedPix-layout archive (cases with history/findings/diagnosis), fake encoder."""
    from indexer.pipeline import IndexOptions, build_index
    from medpix_factory import make_medpix
    from test_serve_support import LiveServer

    from medsearch.archives import open_archive
    from medsearch.models import load_encoder
    from medsearch.search import open_index
    from medsearch.serve.app import create_app

    index_dir = tmp_path / "medpix-index"
    build_index(open_archive("medpix", root=make_medpix(tmp_path / "medpix")), index_dir,
                load_encoder("fake", device="cpu"), IndexOptions(workers=0, progress=False))
    with LiveServer(create_app(lambda: open_index(index_dir))) as url:
        yield url


def test_case_view_draft_differential_and_case_export(browser_page, medpix_live_url, tmp_path):
    from medpix_factory import SHADES, write_png
    from playwright.sync_api import expect

    page, problems = browser_page
    page.goto(medpix_live_url + "/")
    expect(page.locator("#index-info")).to_contain_text("fake")
    expect(page.locator("#diverse")).to_be_checked()  # teaching mode is the page's default

    # diverse text search: one hit per case
    page.fill("#q", "meningioma")
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    keys = page.locator(".card .snippet").all_inner_texts()
    assert len(keys) == 7  # 17 images in 7 cases: at most one per case

    # by case: case cards with an image strip; open the case view
    page.check("#group-case")
    expect(page.locator("#status")).to_contain_text("cases for “meningioma”")
    card = page.locator(".case-card").first
    expect(card.locator(".strip img").first).to_have_js_property("complete", True)
    card.locator("button.open-case").click()
    page.wait_for_selector("#case-view[open]")
    expect(page.locator("#case-sections")).to_contain_text("History")
    expect(page.locator("#case-sections")).to_contain_text("Findings")
    expect(page.locator("#case-sections")).to_contain_text("Diagnosis")
    assert page.locator("#case-strip img").count() >= 2
    expect(page.locator("#case-licence")).to_contain_text("MedPix 2.0")
    page.click("#case-add")
    expect(page.locator("#collection-count")).to_have_text("1")

    # look-alike cases with another diagnosis, from the case view
    page.click("#case-differential")
    expect(page.locator("#status")).to_contain_text("with a diagnosis other than")
    assert page.locator(".case-card").count() > 0

    # item detail shows its case
    page.uncheck("#group-case")
    page.press("#q", "Enter")
    page.wait_for_selector(".card button.details")
    page.locator(".card button.details").first.click()
    page.wait_for_selector("#detail[open]")
    expect(page.locator("#detail-case-info")).to_contain_text("Case MPX")
    page.click("#detail-close")

    # draft from an uploaded image: cited sentences, sources with licences, negations marked
    query = tmp_path / "meningioma.png"
    write_png(query, SHADES["Meningioma"], seed=4242)
    page.set_input_files("#file-input", str(query))
    expect(page.locator("#status")).to_contain_text("for the image meningioma.png")
    page.click("#draft-button")
    expect(page.locator("#draft")).to_be_visible()
    expect(page.locator("#draft .findings li").first).to_be_visible()
    assert page.locator("#draft .findings li .cite").first.inner_text().startswith("[1")
    expect(page.locator("#draft .sources")).to_contain_text("medpix/MPX000")
    expect(page.locator("#draft .sources")).to_contain_text("licence: MedPix 2.0")
    negated = page.locator('#draft li[data-assertion="negated"]')  # both meningioma cases hold one ("No ...")
    expect(negated.first.locator(".sentence")).to_have_text(re.compile(r"^No (midline shift|hydrocephalus)\.$"))
    expect(negated.first.locator(".mark")).to_have_text("negated")

    # the case collection exports as an HTML teaching file with the case text, images and licence
    with page.expect_download() as download_info:
        page.click("#export-html")
    html = Path(download_info.value.path()).read_text()
    assert 'class="case"' in html and "History" in html and "Findings" in html
    assert "MedPix 2.0: research and education use" in html and "data:image/png;base64," in html
    assert problems == []


@pytest.fixture
def findings_live_url(tmp_path):
    """A live server over four chosen figures: one asserts a pleural effusion, one denies it, one never mentions
    it (and has no modality), one is a report without image."""
    from test_serve_support import LiveServer, open_served_index, png_bytes

    items = []
    for i, (text, modality) in enumerate([("Right pleural effusion with compressive atelectasis.", "CR"),
                                          ("No pleural effusion. Heart size normal.", "CT"),
                                          ("Fracture of the left femoral neck.", None)]):
        path = tmp_path / f"fig{i}.png"
        path.write_bytes(png_bytes((96, 80), seed=i))
        items.append(dict(archive="roco", key=f"ROCO_{i}", image_path=str(path), text=text, labels=[],
                          split="test", licence="CC BY", modality=modality, case=f"PMC{i}",
                          extra={"keywords": ";".join(["fracture", "femoral", "neck"] * 40)}))  # no space
    items.append(dict(archive="iu", key="CXR1", image_path=None, text="Small left pleural effusion.", labels=[],
                      split="test", licence="CC BY", modality="CR"))
    index = open_served_index(tmp_path / "index", items, tmp_path)
    from medsearch.serve.app import create_app

    with LiveServer(create_app(index)) as url:
        yield url


def test_each_hit_says_why_it_matched_and_the_page_works_from_the_keyboard(browser_page, findings_live_url,
                                                                            query_png, tmp_path):
    """The educator sees, on each card, the query's words found in the text and each finding's status there
    (asserted / negated / not mentioned), not only in a tooltip; the modality by name; an empty result with the
    reason; and the image search reachable without a mouse."""
    from playwright.sync_api import expect

    page, problems = browser_page
    page.goto(findings_live_url + "/")
    expect(page.locator("#index-info")).to_contain_text("fake")
    page.uncheck("#diverse")
    page.fill("#q", "pleural effusion")
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    asserted = page.locator('.card:has-text("Right pleural effusion")')
    expect(asserted.locator(".why")).to_contain_text("pleural effusion: stated")
    expect(asserted.locator(".why .terms")).to_contain_text("pleural, effusion")
    expect(asserted.locator(".top")).to_contain_text("X-ray")  # the modality's name, not its code
    denied = page.locator('.card:has-text("No pleural effusion")')
    expect(denied.locator('.why [data-status="negated"]')).to_have_text("pleural effusion: negated")
    unrelated = page.locator('.card:has-text("femoral neck")')
    expect(unrelated.locator(".why")).to_contain_text("pleural effusion: not mentioned")
    expect(unrelated.locator(".top")).not_to_contain_text("image")  # no modality: nothing in its place
    page.screenshot(path=str(tmp_path / "why.png"))

    # a case that states no licence of its own (a PMC article) is collected with its figures' licence, and its
    # entry has no empty parts (it read "PMC1 ·  · licence unknown")
    page.evaluate("""() => addCase({archive: 'roco', case: 'PMC1', title: null, diagnosis: null, licence: null,
                                    items: [{licence: 'CC BY'}, {licence: 'CC BY'}]})""")
    expect(page.locator('#collection-list li[data-case="PMC1"] > span')).to_have_text("PMC1 · CC BY")
    # a screen reader names each entry's note box and remove button by its case or item (all read "remove")
    expect(page.get_by_role("button", name="remove case PMC1")).to_be_visible()
    expect(page.get_by_role("textbox", name="note on case PMC1 for the teaching file")).to_be_visible()

    # a filter value no item has: the status says so, not just "0 images"
    page.goto(findings_live_url + "/?q=effusion")
    page.wait_for_selector(".card")
    page.evaluate("""() => { const s = document.getElementById('f-split');
        s.append(new Option('nope', 'nope')); s.value = 'nope'; s.dispatchEvent(new Event('change')); }""")
    expect(page.locator("#status")).to_contain_text("No images found")
    expect(page.locator("#status")).to_contain_text("no item in this index has split 'nope'")

    # keyboard: "choose a file" is a button (it was a label round a hidden input: no Tab stop), Enter opens it
    # (the native chooser's event proved flaky in headless Chromium: the input's click is what opens it)
    page.evaluate("""() => { window.chooserOpened = false;
        document.getElementById('file-input').addEventListener('click', (e) => { window.chooserOpened = true;
                                                                          e.preventDefault(); }); }""")
    page.locator("#choose-file").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("window.chooserOpened") is True
    page.set_input_files("#file-input", str(query_png))
    expect(page.locator("#status")).to_contain_text("for the image query.png")

    # different diagnosis when the nearest case names none: the page says where to type one (the API's message
    # named the CLI's --diagnosis), and the box's diagnosis is sent
    page.click("#clear-filters")
    expect(page.locator("#status")).to_contain_text("images for the image query.png")
    page.click("#differential-button")
    expect(page.locator("#status")).to_contain_text("has no diagnosis or labels to differ from: type the diagnosis")
    assert "--diagnosis" not in page.inner_text("#status")
    page.fill("#diagnosis", "pneumothorax")
    with page.expect_request(lambda r: "/api/different-diagnosis" in r.url) as sent:
        page.click("#differential-button")
    assert "diagnosis=pneumothorax" in sent.value.url
    expect(page.locator("#status")).to_contain_text("with a diagnosis other than “pneumothorax”")
    problems[:] = [p for p in problems if "400 (Bad Request)" not in p]  # the refused differential, expected
    assert problems == []


def test_long_unbroken_metadata_and_a_narrow_window_keep_the_page_inside_its_boxes(browser_page, findings_live_url,
                                                                                 tmp_path):
    """A caption's keywords (one long word: "a;b;c;...") pushed the item dialog's text past its right edge, cut
    off; in a narrow window the search button lay under the "by case" toggle."""
    from playwright.sync_api import expect

    page, problems = browser_page
    page.goto(findings_live_url + "/?q=fracture")
    page.wait_for_selector(".card button.details")
    page.locator('.card:has-text("femoral neck") button.details').click()
    page.wait_for_selector("#detail[open]")
    expect(page.locator("#detail-meta")).to_contain_text("fracture;femoral;neck")
    page.screenshot(path=str(tmp_path / "detail.png"))
    overflow = page.locator("#detail").evaluate("d => d.scrollWidth - d.clientWidth")
    assert overflow <= 0, f"the dialog's content is {overflow}px wider than the dialog"
    page.keyboard.press("Escape")

    def box(selector):
        b = page.locator(selector).bounding_box()
        return b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]

    # a report without image: a slim "report only" band, not a grey square as large as an image (a report index
    # showed six reports a screen, each under a blank square)
    page.goto(findings_live_url + "/?q=pleural%20effusion&target=reports")
    page.wait_for_selector('.card:has-text("Small left pleural effusion") .noimg')
    band = page.locator('.card:has-text("Small left pleural effusion") .noimg').bounding_box()
    assert band["height"] < 60, band

    for width in (700, 420):
        page.set_viewport_size({"width": width, "height": 900})
        button, toggle = box("#search-form button[type=submit]"), box("label.toggle >> nth=0")
        apart = button[2] <= toggle[0] or toggle[2] <= button[0] or button[3] <= toggle[1] or toggle[3] <= button[1]
        assert apart, f"at {width}px the search button {button} overlaps the 'by case' toggle {toggle}"
        assert box("#search-form button[type=submit]")[2] <= width  # and stays on the screen
    assert problems == []


def test_the_api_docs_page_renders_every_endpoint(browser_page, findings_live_url):
    """/docs showed "Unable to render this definition": the bundled Swagger UI reads OpenAPI 3.0, FastAPI writes
    3.1."""
    from playwright.sync_api import expect

    page, problems = browser_page
    page.goto(findings_live_url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    assert "Unable to render" not in page.inner_text("body")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/search" in paths and "/api/search/image" in paths and "/api/export/html" in paths
    page.locator(".opblock-summary-path", has_text="/api/search").first.click()  # open it: parameters and schema
    expect(page.locator(".parameters").first).to_contain_text("k")
    assert problems == []


def test_dismissing_the_token_dialog_says_a_token_is_needed_and_asks_again(browser_page, tmp_path):
    """Escape on the token dialog left the page waiting for ever ("Searching…"), its handler still attached: the
    next token sent twice. Now the refusal is said, and the next search asks again."""
    from playwright.sync_api import expect
    from test_serve_support import LiveServer, open_served_index, png_bytes

    from medsearch.serve.app import create_app
    from medsearch.serve.settings import ServeSettings

    path = tmp_path / "fig.png"
    path.write_bytes(png_bytes((64, 64)))
    index = open_served_index(tmp_path / "index", [dict(archive="roco", key="ROCO_1", image_path=str(path),
                                                        text="Right pleural effusion.", labels=[], licence="CC BY")],
                              tmp_path)
    page, problems = browser_page
    with LiveServer(create_app(index, ServeSettings(token="s3cret"))) as url:
        page.goto(url + "/?q=effusion")
        expect(page.locator("#token-dialog")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#token-dialog")).to_be_hidden()
        expect(page.locator("#status")).to_contain_text("access token")
        sessions = []
        page.on("request", lambda r: sessions.append(r) if r.url.endswith("/api/session") else None)
        page.press("#q", "Enter")
        expect(page.locator("#token-dialog")).to_be_visible()
        page.fill("#token-input", "s3cret")
        page.press("#token-input", "Enter")
        expect(page.locator("#status")).to_contain_text("1 images for “effusion”")
        assert len(sessions) == 1
        expect(page.locator("#index-info")).to_contain_text("model fake")  # refused at first, loaded after the token
    assert all("401" in p for p in problems)  # the refused calls before the token, nothing else


def test_an_empty_index_says_so_and_keeps_a_target_to_search(browser_page, tmp_path):
    """A server may start before its index holds anything: the page chose the first of no targets (the select went
    blank, both choices disabled, until a reload) and said nothing."""
    from playwright.sync_api import expect
    from test_serve_support import LiveServer, open_served_index

    from medsearch.serve.app import create_app

    page, problems = browser_page
    with LiveServer(create_app(open_served_index(tmp_path / "index", [], tmp_path))) as url:
        page.goto(url + "/")
        expect(page.locator("#status")).to_contain_text("This index is empty")
        expect(page.locator("#target")).to_have_value("image")
        assert page.locator("#target option:disabled").count() == 0
        page.fill("#q", "effusion")
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_contain_text("this index is empty")
    assert all("400" in p for p in problems)  # the refused search
