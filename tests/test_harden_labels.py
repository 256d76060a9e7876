"""Issue 8, item 15: labels by name or code (ROCO's CUIs get names), clinically useful facets (findings, body
regions) instead of UMLS semantic-type buckets."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from medsearch.archives import open_archive
from medsearch.cli import app
from medsearch.concepts import concept_name, label_alternatives, label_name, named_labels
from medsearch.models.fake import FakeEncoder
from medsearch.store.filters import Filters

from indexer.pipeline import IndexOptions, build_index

ROCO_COLUMNS = ["roco_id", "image", "pmc_id", "caption", "keywords", "semtypes", "cuis", "license",
                "orig_width", "orig_height", "split"]
PNEUMOTHORAX, CHEST, RIGHT = "C0032326", "C0817096", "C0423899"


def roco_archive(root):
    (root / "images").mkdir(parents=True)
    rows = [
        ("R1", "Chest X-ray: right pneumothorax.", "T047:Disease or Syndrome;T029:Body Location or Region",
         f"{PNEUMOTHORAX};{CHEST};{RIGHT}"),
        ("R2", "Chest CT with a nodule.", "T029:Body Location or Region;T170:Intellectual Product", CHEST),
        ("R3", "Brain MRI, normal.", "T170:Intellectual Product", ""),
    ]
    with open(root / "captions.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(ROCO_COLUMNS)
        for i, (rid, caption, semtypes, cuis) in enumerate(rows):
            pixels = (np.arange(32 * 32).reshape(32, 32) * (i + 2) % 256).astype(np.uint8)
            Image.fromarray(pixels).convert("RGB").save(root / "images" / f"{rid}.jpg")
            writer.writerow([rid, f"images/{rid}.jpg", "PMC1", caption, "kw", semtypes, cuis, "CC BY", "9", "9",
                             "test"])
    return root


def test_vocabulary_names_codes_and_accepts_names():
    assert label_name(PNEUMOTHORAX) == "pneumothorax" and label_name(CHEST) == "chest"
    assert label_name(RIGHT) == RIGHT  # a CUI the extractor attached to "right": unnamed, never a facet
    assert label_name("T047:Disease or Syndrome") == "Disease or Syndrome"
    assert PNEUMOTHORAX in label_alternatives("pneumothorax") and PNEUMOTHORAX in label_alternatives("Pneumothorax")
    assert "Pneumothorax" in label_alternatives(PNEUMOTHORAX)  # another archive's plain label, by the code
    assert concept_name("hemorrhage") == concept_name("haemorrhage") == "haemorrhage"
    assert label_alternatives("followup") == ["followup"]
    assert named_labels([CHEST, RIGHT, "T047:Disease or Syndrome", PNEUMOTHORAX]) == ["pneumothorax", "chest"]


@pytest.fixture
def roco_index(tmp_path, store_url):
    root = roco_archive(tmp_path / "roco")
    build_index(open_archive("roco", root), tmp_path / "idx", FakeEncoder(),
                IndexOptions(db_url=store_url, workers=0, progress=False))
    return tmp_path / "idx", store_url


def test_label_filter_by_name_or_code(roco_index):
    import medsearch

    index_dir, store_url = roco_index
    with medsearch.open_index(index_dir, model="fake", db_url=store_url) as idx:
        for label in ("pneumothorax", "Pneumothorax", PNEUMOTHORAX, "pneumothoraces"):
            hits = idx.search_text("x-ray", k=5, filters=Filters(labels=[label]))
            assert [h.key for h in hits] == ["R1"], label
        assert sorted(h.key for h in idx.search_text("x", k=5, filters=Filters(labels=["chest"]))) == ["R1", "R2"]
        records = idx.store.records("image", range(3))
        for labels in (["pneumothorax"], ["chest"], ["chest", "pneumothorax"], [CHEST]):
            filters = Filters(labels=labels)
            allowed = set(idx.store.allowed_vector_ids("image", filters).tolist())
            assert {v for v, r in records.items() if filters.matches(r)} == allowed, labels


def test_facets_are_findings_and_body_regions(roco_index):
    import medsearch

    index_dir, store_url = roco_index
    with medsearch.open_index(index_dir, model="fake", db_url=store_url) as idx:
        facets = idx.info()["facets"]
    assert facets["findings"] == {"pneumothorax": 1}
    assert facets["body_regions"] == {"chest": 2}


def test_cli_label_by_name(roco_index):
    index_dir, store_url = roco_index
    result = CliRunner().invoke(app, ["query", "x-ray", "--index", str(index_dir), "--db", store_url, "--model",
                                      "fake", "--label", "pneumothorax", "--json"])
    assert result.exit_code == 0, result.output
    assert [h["key"] for h in json.loads(result.output)] == ["R1"]


def test_page_api_offers_clinical_facets_and_named_chips(roco_index):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.search import open_index
    from medsearch.serve.app import create_app

    index_dir, store_url = roco_index
    with TestClient(create_app(lambda: open_index(index_dir, model="fake", db_url=store_url))) as client:
        facets = client.get("/api/info").json()["facets"]
        assert [f["value"] for f in facets["findings"]] == ["pneumothorax"]
        assert [f["value"] for f in facets["body_regions"]] == ["chest"]
        hits = client.get("/api/search", params={"q": "x-ray", "labels": "pneumothorax"}).json()["results"]
        assert [h["key"] for h in hits] == ["R1"]
        assert hits[0]["concepts"] == ["pneumothorax", "chest"]
        assert "Intellectual Product" not in json.dumps(facets["findings"] + facets["body_regions"])


def test_build_concepts_names_cuis_from_captions():
    from medsearch.archives.build_concepts import build

    rows = [{"caption": f"Chest radiograph shows a pneumothorax {i}.", "cuis": "C9000001;C9000002;C9000003"}
            for i in range(4)]
    rows += [{"caption": f"CT of the chest {i}.", "cuis": "C9000002;C9000003"} for i in range(4)]
    concepts = build(rows)
    assert concepts["C9000001"]["name"] == "pneumothorax" and concepts["C9000001"]["group"] == "finding"
    assert concepts["C9000002"]["name"] == "chest" and concepts["C9000002"]["group"] == "body region"
