"""Issue 8, names and conventions: one modality vocabulary (index time, filters in CLI/API/page, info), labels
with display names accepted by name or code, clinically useful facets."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medsearch.archives import open_archive
from medsearch.archives.modality import canonical_modality, modality_label, same_modality
from medsearch.cli import app
from medsearch.models.fake import FakeEncoder
from medsearch.archives.item import ItemFields
from medsearch.store import NewItem, Store
from medsearch.store.filters import Filters

from indexer.pipeline import IndexOptions, build_index
from test_harden_paths import make_csv_archive, manifest_file

MODALITY_MANIFEST = ('name = "mods"\nreader = "csv"\n[source]\ntable = "items.csv"\n'
                     '[fields]\nid = "id"\nimage = "image"\ntext = "text"\nmodality = "modality"\n')


@pytest.mark.parametrize("spelling, code", [
    ("MRI", "MR"), ("mr", "MR"), ("Magnetic resonance", "MR"), ("ultrasound", "US"), ("US", "US"),
    ("X-ray", "XR"), ("X-RAY", "XR"), ("CR", "XR"), ("DX", "XR"), ("radiograph", "XR"), ("PET/CT", "PT"),
    ("nuclear medicine", "NM"), ("angiography", "XA"), ("mammography", "MG"), ("ct", "CT"), ("es", "ES"),
    (None, None), ("  ", None),
])
def test_canonical_modality(spelling, code):
    assert canonical_modality(spelling) == code


def test_labels_and_unknown():
    assert modality_label("XR") == "X-ray" and modality_label("US") == "ultrasound" and modality_label(None) == "unknown"
    assert same_modality(None, "unknown") and same_modality("X-RAY", "CR") and not same_modality("CT", "MR")


@pytest.fixture
def modality_index(tmp_path, store_url):
    rows = [["a", "images/img0.png", "axial image", "", "", "", "MRI"],
            ["b", "images/img1.png", "abdominal image", "", "", "", "ultrasound"],
            ["c", "images/img2.png", "chest image", "", "", "", "X-ray"],
            ["d", "", "a report with no modality", "", "", "", ""]]
    root = make_csv_archive(tmp_path / "mods", rows)
    manifest = tmp_path / "mods.toml"
    manifest.write_text(MODALITY_MANIFEST)
    build_index(open_archive(manifest, root), tmp_path / "idx", FakeEncoder(),
                IndexOptions(db_url=store_url, workers=0, progress=False))
    return tmp_path / "idx", store_url


def test_index_time_stores_canonical_codes_and_filters_accept_any_spelling(modality_index):
    import medsearch

    index_dir, store_url = modality_index
    with medsearch.open_index(index_dir, model="fake", db_url=store_url) as idx:
        assert idx.info()["facets"]["modalities"] == {"MR": 1, "US": 1, "XR": 1, "unknown": 1}
        for spelling, key in (("MR", "a"), ("mri", "a"), ("US", "b"), ("CR", "c"), ("DX", "c"), ("X-ray", "c")):
            hits = idx.search_text("image", k=5, target="image", filters=Filters(modality=spelling))
            assert [h.key for h in hits] == [key], spelling
        assert [h.key for h in idx.search_text("report", k=5, target="text",
                                               filters=Filters(modality="unknown"))] == ["d"]


def test_old_spellings_in_an_existing_store_still_match(store_url):
    """Indexes written before the vocabulary stored "MRI", "ultrasound", "X-RAY": filters still find them, and
    the store's SQL agrees with the Python check."""
    with Store.open(store_url) as store:
        archive = store.archive_id("old", "/data")
        spellings = ["MRI", "ultrasound", "X-RAY", "CR", "nuclear medicine", None]
        store.add_items(archive, [NewItem(ItemFields(key=f"k{i}", image_path=f"/data/{i}.png", modality=m),
                                          content_hash="h", image_vector_id=i) for i, m in enumerate(spellings)])
        records = store.records("image", range(6))
        for wanted, expected in (("MR", [0]), ("US", [1]), ("XR", [2, 3]), ("x-ray", [2, 3]), ("NM", [4]),
                                 ("unknown", [5])):
            filters = Filters(modality=wanted)
            assert store.allowed_vector_ids("image", filters).tolist() == expected, wanted
            assert sorted(i for i, r in records.items() if filters.matches(r)) == expected, wanted
        assert store.facets()["modalities"] == {"XR": 2, "MR": 1, "NM": 1, "US": 1, "unknown": 1}


def test_cli_modality_filter_and_info_show_canonical_names(modality_index):
    index_dir, store_url = modality_index
    result = CliRunner().invoke(app, ["query", "chest", "--index", str(index_dir), "--db", store_url,
                                      "--model", "fake", "--modality", "CR", "--json"])
    assert result.exit_code == 0, result.output
    assert [(h["key"], h["modality"]) for h in json.loads(result.output)] == [("c", "XR")]
    info = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["info", "--index", str(index_dir), "--db", store_url])
    assert info.exit_code == 0, info.output
    assert "XR (X-ray) (1)" in info.output and "US (ultrasound) (1)" in info.output
    assert "X-RAY" not in info.output and "ULTRASOUND" not in info.output


def test_api_modality_filter_and_facet_labels(modality_index):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.search import open_index
    from medsearch.serve.app import create_app

    index_dir, store_url = modality_index
    with TestClient(create_app(lambda: open_index(index_dir, model="fake", db_url=store_url))) as client:
        facets = client.get("/api/info").json()["facets"]["modality"]
        assert {f["value"]: f.get("label") for f in facets} == {"MR": None, "US": "ultrasound", "XR": "X-ray",
                                                                "unknown": None}
        for spelling in ("CR", "X-ray", "XR"):
            hits = client.get("/api/search", params={"q": "chest", "modality": spelling}).json()["results"]
            assert [h["key"] for h in hits] == ["c"], spelling
