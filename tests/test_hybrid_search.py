"""Search modes (dense, lexical, hybrid), the assertion correction and the explanation of each hit, through the
Python API, the CLI and the serve API, over a small report index (fake encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_test_index

from medsearch.errors import BadQuery
from medsearch.search import open_index

REPORTS = [
    "Large right pneumothorax with mediastinal shift.",
    "No pneumothorax or pleural effusion. Heart size normal.",
    "Small left apical pneumothorax.",
    "Lungs are clear. No pneumothorax.",
    "Possible right lower lobe pneumonia.",
    "Right lower lobe pneumonia.",
    "Moderate left pleural effusion.",
    "Cardiomegaly with pulmonary vascular congestion.",
    "Pneumothorax excluded. Clear lungs.",
    "Healed fracture of the distal radius.",
    "Disc herniation at C5-C6 on T2 images.",
    "Normal chest radiograph.",
]
ASSERTS_PTX = {0, 2}


def build(index_dir: Path, db_url: str | None = None, reports: list[str] = REPORTS) -> Path:
    """A text-only index of ``reports`` (conftest.write_test_index): item i is key "rNN", text vector i, split
    "test" for odd i, "train" for even, in archive "reports"."""
    items = [dict(archive="reports", key=f"r{i:02d}", text=t, split="test" if i % 2 else "train")
             for i, t in enumerate(reports)]
    write_test_index(index_dir, items, Path("/reports"), db_url=db_url)
    return index_dir


@pytest.fixture(scope="module")
def report_index(tmp_path_factory):
    index_dir = build(tmp_path_factory.mktemp("reports") / "index")
    with open_index(index_dir) as index:
        yield index


def keys(hits):
    return [int(h.key[1:]) for h in hits]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_positive_query_ranks_assertions_above_negations(report_index, mode):
    hits = report_index.search_text("pneumothorax", k=len(REPORTS), target="text", mode=mode)
    ranked = keys(hits)
    if mode != "dense":
        assert set(ranked[:2]) == ASSERTS_PTX
    denied = [ranked.index(i) for i in (1, 3, 8) if i in ranked]
    assert all(ranked.index(i) < min(denied, default=99) for i in ASSERTS_PTX if i in ranked)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.mode == mode for h in hits)


@pytest.mark.parametrize("query", ["no pneumothorax", "pneumothorax excluded", "without pneumothorax"])
@pytest.mark.parametrize("mode", ["dense", "hybrid", "lexical"])
def test_negated_query_never_ranks_an_assertion_above_the_rest(report_index, query, mode):
    hits = report_index.search_text(query, k=len(REPORTS), target="text", mode=mode)
    ranked = keys(hits)
    assert not ASSERTS_PTX & set(ranked[:len(ranked) - len(ASSERTS_PTX & set(ranked))])
    if mode != "dense":
        assert set(ranked[:3]) == {1, 3, 8}
        assert hits[0].assertion == {"pneumothorax": "negated"}


def test_negation_off_matches_negated_mentions(report_index):
    ranked = keys(report_index.search_text("pneumothorax", k=10, target="text", mode="lexical", negation=False))
    assert {0, 1, 2, 3, 8} <= set(ranked)


def test_possible_pneumonia_is_kept_apart(report_index):
    assert keys(report_index.search_text("possible pneumonia", k=1, target="text", mode="lexical")) == [4]
    assert keys(report_index.search_text("pneumonia", k=1, target="text", mode="lexical")) == [5]
    ranked = keys(report_index.search_text("pneumonia", k=12, target="text", mode="hybrid"))
    assert ranked.index(5) < ranked.index(4)


def test_abbreviation_lay_term_and_laterality(report_index):
    assert keys(report_index.search_text("PTX", k=2, target="text", mode="lexical")) in ([0, 2], [2, 0])
    assert keys(report_index.search_text("enlarged heart", k=1, target="text", mode="lexical")) == [7]
    assert keys(report_index.search_text("left pneumothorax", k=5, target="text", mode="lexical")) == [2]
    assert keys(report_index.search_text("C5-C6", k=5, target="text", mode="lexical")) == [10]
    assert keys(report_index.search_text("T2", k=5, target="text", mode="lexical")) == [10]


# bm25 alone would rank the short bilateral reports first: the one-sided ones are longer and "left"/"right" common
SIDED = ["Bilateral pleural effusions.", "Bilateral pleural effusion.",
         "There is a small right-sided pleural effusion at the base, with adjacent basilar atelectasis.",
         "There is a small left-sided pleural effusion at the base, with adjacent basilar atelectasis.",
         "Lungs are clear.", "Left lower lobe atelectasis.", "Left hilar prominence.", "Old left rib fracture.",
         "Right hilar prominence.", "Right upper lobe nodule.", "Right rib fracture.", "Left shoulder arthritis.",
         "Right shoulder arthritis."]


@pytest.mark.parametrize("query, first, then", [("left pleural effusion", [3], [0, 1]),
                                                ("right pleural effusion", [2], [0, 1]),
                                                ("bilateral pleural effusion", [0, 1], [])])
def test_the_stated_side_ranks_above_a_bilateral_mention(tmp_path, query, first, then):
    with open_index(build(tmp_path / "index", reports=SIDED)) as index:
        ranked = keys(index.search_text(query, k=len(SIDED), target="text"))
    assert sorted(ranked[:len(first)]) == first
    assert sorted(ranked[len(first):len(first) + len(then)]) == then


def test_an_explanation_says_what_the_ranking_decided_of_the_side(tmp_path):
    # "no left pleural effusion": the right-sided effusion answers the query (it ranks with the texts that do not
    # contradict it, above the bilateral ones), and its explanation says so, not "asserted"
    with open_index(build(tmp_path / "index", reports=SIDED)) as index:
        found = index.search_text("no left pleural effusion", k=len(SIDED), target="text")
    hits, ranked = {int(h.key[1:]): h for h in found}, keys(found)
    assert hits[2].assertion == {"pleural effusion": "asserted on the right"}
    assert hits[3].assertion == hits[0].assertion == {"pleural effusion": "asserted"}
    assert ranked.index(2) < min(ranked.index(i) for i in (0, 1, 3))


def test_explanations(report_index):
    hit = report_index.search_text("left pleural effusion", k=1, target="text", mode="hybrid")[0]
    assert hit.key == "r06"
    assert set(hit.matched_terms) == {"left", "pleural", "effusion"}
    assert [hit.snippet[a:b].lower() for a, b in hit.highlights] == ["left", "pleural", "effusion"]
    assert hit.dense_score is not None and hit.lexical_score is not None
    assert hit.assertion == {"pleural effusion": "asserted"}
    assert hit.searched_for == "left pleural effusion"
    as_json = json.loads(json.dumps(hit.to_dict()))
    assert {"dense_score", "lexical_score", "matched_terms", "snippet", "highlights", "assertion",
            "searched_for"} <= set(as_json)


def test_filters_and_k_apply_in_every_mode(report_index):
    for mode in ("dense", "lexical", "hybrid"):
        hits = report_index.search_text("pneumothorax", k=3, target="text", mode=mode, filters={"split": "test"})
        assert len(hits) <= 3 and all(h.split == "test" for h in hits)


def test_unknown_mode_is_refused(report_index):
    with pytest.raises(BadQuery):
        report_index.search_text("pneumothorax", target="text", mode="fuzzy")


def test_cli_mode_and_json(report_index):
    from typer.testing import CliRunner

    from medsearch.cli import app

    result = CliRunner().invoke(app, ["query", "no pneumothorax", "--index", str(report_index.path), "--mode",
                                      "lexical", "--json", "--k", "3"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert {int(h["key"][1:]) for h in hits} == {1, 3, 8}
    assert all(h["assertion"] == {"pneumothorax": "negated"} and h["searched_for"] == "no pneumothorax" for h in hits)
    bad = CliRunner().invoke(app, ["query", "x", "--index", str(report_index.path), "--mode", "fuzzy"])
    assert isinstance(bad.exception, BadQuery) and "fuzzy" in str(bad.exception)


def test_serve_api_mode_and_highlights(report_index):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.serve.app import create_app
    from medsearch.serve.settings import ServeSettings

    with TestClient(create_app(report_index, ServeSettings())) as client:
        body = client.get("/api/search", params={"q": "PTX", "target": "text", "mode": "lexical", "k": 2}).json()
        bad = client.get("/api/search", params={"q": "PTX", "mode": "fuzzy"}).status_code
    assert bad == 422
    assert body["mode"] == "lexical" and body["searched_for"] == "pneumothorax"
    assert {h["key"] for h in body["results"]} == {"r00", "r02"}
    for hit in body["results"]:
        assert [hit["snippet"][a:b].lower() for a, b in hit["highlights"]] == ["pneumothorax"]
        assert hit["assertion"] == {"pneumothorax": "asserted"}


def test_hybrid_search_on_both_stores(tmp_path, store_url):
    """The same answers from the FTS5 and the PostgreSQL full-text index, through the whole search path."""
    index_dir = build(tmp_path / "index", db_url=store_url)
    with open_index(index_dir, db_url=store_url) as index:
        positive = keys(index.search_text("pneumothorax", k=5, target="text"))
        assert set(positive[:2]) == ASSERTS_PTX
        negated = keys(index.search_text("no pneumothorax", k=len(REPORTS), target="text"))
        assert set(negated[:3]) == {1, 3, 8} and set(negated[-2:]) == ASSERTS_PTX
        assert keys(index.search_text("left pneumothorax", k=5, target="text", mode="lexical")) == [2]
        hit = index.search_text("PTX", k=1, target="text")[0]
        assert hit.assertion == {"pneumothorax": "asserted"} and hit.lexical_score is not None


@pytest.mark.parametrize("query", ["aortic dissection", "pneumothorax", "no pneumothorax", "possible pneumonia"])
def test_fused_scores_stay_positive_and_monotonic(report_index, query):
    # the assertion groups order the hits by a bonus for the better groups, never a penalty below zero, whether
    # nothing matches strictly (aortic dissection) or some hits match and others contradict the query
    hits = report_index.search_text(query, k=len(REPORTS), target="text", mode="hybrid")
    assert hits and all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


# no sentence says "brain tumor": "tumor" (3 sentences) is commoner than "brain" (2), "lesion" (4) than "liver" (2)
RELAXED = ["MRI of the brain with an arachnoid cyst.", "Brain MRI: normal study.",
           "Gastric submucosal tumor on CT.", "Duodenal tumor with contrast enhancement.",
           "Seminomatous tumor of the left testis.",
           "Multiple small hypodense lesions in the liver.", "Liver of normal size and echotexture.",
           "Cavitating lesion in the right upper lobe.", "Lytic lesion of the femur.", "Splenic lesion with laceration.",
           "Lungs are clear.", "Heart size is normal.", "No acute osseous abnormality."]


@pytest.mark.parametrize("query, matched", [("brain tumor", {0, 1}), ("liver lesion", {5, 6})])
def test_a_generic_word_alone_is_no_relaxed_match(tmp_path, query, matched):
    # fewer than k texts match the whole query, so the lexical ranking relaxes it: a text holding the organ (the
    # rarer word) still matches, one holding only the commoner, generic finding ("tumor", "lesion") does not
    with open_index(build(tmp_path / "index", reports=RELAXED)) as index:
        lexical = index.search_text(query, k=len(RELAXED), target="text", mode="lexical")
        hybrid = index.search_text(query, k=len(RELAXED), target="text", mode="hybrid")
    assert set(keys(lexical)) == matched
    assert {int(h.key[1:]) for h in hybrid if h.lexical_score is not None} == matched


# the demo's misses: rare words ("nodule", "fluid", "filling", "defect": 2-3 of ~310 sentences, under 1%) of the
# finding or of a wording of it the lexicon adds, in texts about another organ or none
OTHER_ORGANS = ["Hypoechoic nodule in the left lobe of the thyroid.", "Thyroid gland of normal size.",
                "Nodule with irregular margins in the left breast.", "Plantar nodule on ultrasound.",
                "Splenic laceration with free fluid.", "Dense ascites: fluid in the pelvis.",
                "Small right pleural effusion.", "Periapical radiograph shows intact root fillings.",
                "Defect fill on the mesial aspect of the tooth.", "Pulmonary artery angiogram: a stenosis."]


def test_a_relaxed_match_keeps_the_organ_and_the_lexicons_wordings_whole(tmp_path):
    reports = OTHER_ORGANS + ["Normal study."] * 300
    with open_index(build(tmp_path / "index", reports=reports)) as index:
        def found(query):
            return set(keys(index.search_text(query, k=10, target="text", mode="lexical")))

        # the organ the query names stays: the thyroid texts, no breast or plantar nodule
        assert found("thyroid nodule") == {0, 1}
        # "pleural fluid" (the lexicon's wording of a pleural effusion) is no "fluid" of the spleen or the pelvis
        assert found("pleural effusion") == {6}
        # "filling defect pulmonary artery" (the lexicon's wording of an embolism) is no root filling, no defect fill
        assert found("CT pulmonary angiogram showing pulmonary embolism") == set()


def test_relaxed_matches_of_rare_words_absent_words_and_denials(tmp_path):
    reports = ["Eventration of the right hemidiaphragm.", "Eventration of the left hemidiaphragm.",
               "Diaphragmatic contour is sharp.", "Surgical clips in the mediastinum.", "No acute disease.",
               "Calcified granuloma in the right upper lobe."] + ["Lungs are clear. Heart size is normal."] * 100
    with open_index(build(tmp_path / "index", reports=reports)) as index:
        def found(query):
            return set(keys(index.search_text(query, k=10, target="text", mode="lexical")))

        # "eventration" (2 of 206 sentences) is rare: it matches beside the organ in any of its forms (the
        # hemidiaphragm); the organ alone (3, any form) holds less than half of the query: no "diaphragmatic contour"
        assert found("diaphragmatic eventration") == {0, 1}
        # no text says "instruments": the query is weighed on the words the texts use
        assert found("surgical instruments") == {3}
        # a text denying part of what a negated query denies matches it (it cannot contradict it)
        assert found("no calcified granuloma") == {4}


# part-of (lexicon.json's anatomy_parts): a text naming a part of the organ the query names holds the organ
PARTS = ["Compression fracture of L1.", "Fracture of the left fifth rib.", "Fracture of the distal radius.",
         "Calculus in the left kidney.", "Calculi in both kidneys.", "Gallstones in the gallbladder.",
         "Stone in the common bile duct.", "Nodule in the lingula.", "Nodule in the left lobe of the thyroid."]


def test_a_relaxed_match_holds_the_organ_through_its_parts_and_forms(tmp_path):
    reports = PARTS + ["Normal study."] * 300
    with open_index(build(tmp_path / "index", reports=reports)) as index:
        def found(query):
            return set(keys(index.search_text(query, k=10, target="text", mode="lexical")))

        # a level is the spine's: no rib or radius fracture ("fracture" alone is rare, but not without the organ)
        assert found("spine fracture") == {0}
        # "renal calculus", the lexicon's wording of a kidney stone, held whole with the kidney in any form (a plural
        # the tokenizer leaves alone, "kidneys", too); no gallstone, no bile-duct stone
        assert found("kidney stone") == {3, 4}
        # the lingula is the lung's: no thyroid nodule
        assert found("lung nodule") == {7}


def test_a_sign_of_any_arterys_dissection_is_no_aortic_dissection(tmp_path):
    # a dissection flap or an intimal flap is seen in any dissected artery: the lexicon words them with the aorta
    reports = ["Coronary angiography: dissection flap in the LAD.", "Intimal flap of the right carotid artery.",
               "CT: intimal flap in the descending aorta.", "Dissection of the thoracic aorta.",
               "Aortic dissection extending to the iliac arteries."] + ["Normal study."] * 300
    with open_index(build(tmp_path / "index", reports=reports)) as index:
        hits = index.search_text("aortic dissection", k=10, target="text", mode="lexical")
    assert set(keys(hits)) == {2, 3, 4}
