"""Teaching tools end to end on a tiny MedPix-layout archive made by the test, fake encoder, SQLite and
PostgreSQL: cases stored and searchable, --group case, --diverse, --different-diagnosis, draft."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medpix_factory import CASES, SHADES, make_medpix, write_png
from medsearch.cli import app

runner = CliRunner()
DIAGNOSIS = {uid: dx for uid, _, dx, _, _ in CASES}
FINDINGS = {uid: findings for uid, _, _, findings, _ in CASES}


def _invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def medpix_index(request, tmp_path) -> tuple[Path, list[str]]:
    """(index dir, --db args) of the tiny MedPix archive indexed through the CLI with the fake encoder."""
    db_args = ["--db", request.getfixturevalue("fresh_pg_url")] if request.param == "postgres" else []
    root = make_medpix(tmp_path / "medpix")
    index = tmp_path / "idx"
    out = _invoke("index", "--manifest", "medpix", "--root", root, "--index", index, "--model", "fake",
                  "--workers", "0", *db_args)
    assert "cases (new or changed)" in out
    return index, db_args


@pytest.fixture
def query_image(tmp_path) -> Path:
    """An image that looks like the meningioma cases (same coarse pattern, other noise)."""
    path = tmp_path / "query.png"
    write_png(path, SHADES["Meningioma"], seed=999)
    return path


def _open(index: Path, db_args: list[str]):
    from medsearch.models.fake import FakeEncoder
    from medsearch.search import open_index

    return open_index(index, model=FakeEncoder(), db_url=db_args[1] if db_args else None)


def test_group_case_returns_one_hit_per_case_with_its_text_and_images(medpix_index, query_image):
    index, db_args = medpix_index
    hits = json.loads(_invoke("query", "--image", query_image, "--group", "case", "--index", index, "--k", "4",
                              "--json", *db_args))
    assert [h["case"] for h in hits[:2]] and {h["case"] for h in hits[:2]} == {"MPX0003", "MPX0006"}
    assert len({h["case"] for h in hits}) == len(hits) == 4
    top = hits[0]
    assert top["diagnosis"] == "Meningioma" and top["sections"]["findings"] == FINDINGS[top["case"]]
    assert top["sections"]["history"].startswith(str(40 + int(top["case"][-1]) - 1))
    assert 1 <= len(top["items"]) <= 3 and all(i["case"] == top["case"] for i in top["items"])
    scores = [i["score"] for i in top["items"]]
    assert scores == sorted(scores, reverse=True) and top["item_score"] == pytest.approx(scores[0])
    assert top["n_items"] == len([1 for uid in [top["case"]] for _ in range(2 + (int(uid[-1]) - 1) % 2)])


def test_case_lexical_search_skips_negated_terms():
    from collections import Counter

    from medsearch.teaching.case_lexical import CaseLexicon, case_terms

    lexicon = CaseLexicon({("a", "1"): case_terms("No pneumothorax. Small effusion."),
                           ("a", "2"): case_terms("Large right pneumothorax.")})
    assert [key for key, _ in lexicon.search("pneumothorax", 5)] == [("a", "2")]
    assert case_terms("No pneumothorax.") == Counter()


def test_case_text_is_searchable_by_text(medpix_index):
    index, db_args = medpix_index
    hits = json.loads(_invoke("query", "heart strain", "--group", "case", "--index", index,
                              "--k", "7", "--json", *db_args))
    best_text = max(hits, key=lambda h: h["case_score"])
    assert best_text["case"] == "MPX0002"  # only its case text says so; its captions don't
    assert "MPX0002" in {h["case"] for h in hits[:2]}  # fused with the (random, fake-encoder) image ranking


def test_filters_apply_to_cases(medpix_index, query_image):
    index, db_args = medpix_index
    hits = json.loads(_invoke("query", "--image", query_image, "--group", "case", "--split", "train", "--index",
                              index, "--json", *db_args))
    assert "MPX0006" not in {h["case"] for h in hits}  # a dev case
    assert all(i["split"] == "train" for h in hits for i in h["items"])


def test_item_detail_and_case_view_show_the_case(medpix_index):
    from medsearch.teaching.cases import case_view

    index, db_args = medpix_index
    with _open(index, db_args) as idx:
        record = idx.item(1)
        view = case_view(idx, record.archive, record.case)
    assert record.case == "MPX0001"
    assert view["diagnosis"] == "Pulmonary Embolism" and [i["key"] for i in view["items"]] == [
        "MPX0001_synpic0", "MPX0001_synpic1"]
    assert "patient" not in json.dumps(view)


def test_different_diagnosis_leaves_out_the_reference_diagnosis(medpix_index, query_image):
    index, db_args = medpix_index
    result = json.loads(_invoke("query", "--image", query_image, "--different-diagnosis", "--index", index,
                                "--json", *db_args))
    assert result["reference_diagnosis"] == "Meningioma" and result["reference_source"].startswith("nearest case")
    cases = [h["case"] for h in result["hits"]]
    assert cases and not {"MPX0003", "MPX0006"} & set(cases)
    assert {DIAGNOSIS[c] for c in cases} <= {"Glioblastoma", "Appendicitis", "Pulmonary Embolism"}
    named = json.loads(_invoke("query", "--image", query_image, "--different-diagnosis", "--diagnosis",
                               "glioblastoma", "--index", index, "--json", *db_args))
    assert "MPX0004" not in {h["case"] for h in named["hits"]} and "MPX0003" in {h["case"] for h in named["hits"]}


def test_different_diagnosis_for_an_indexed_item_leaves_out_its_case(medpix_index):
    from medsearch.teaching.differential import different_diagnosis_for_item

    index, db_args = medpix_index
    with _open(index, db_args) as idx:
        result = different_diagnosis_for_item(idx, 1, k=5)
    assert result.reference_source == "query case MPX0001"
    assert {h.case for h in result.hits}.isdisjoint({"MPX0001", "MPX0002"})  # own case and same diagnosis


def test_draft_cites_its_cases_and_keeps_negations(medpix_index, query_image):
    index, db_args = medpix_index
    draft = json.loads(_invoke("draft", query_image, "--index", index, "--json", *db_args))
    assert draft["status"] == "ok" and draft["citations"]
    cited = {c["number"]: c for c in draft["citations"]}
    assert cited[1]["case"] in {"MPX0003", "MPX0006"} and cited[1]["licence"].startswith("MedPix")
    assert all(c["score"] >= draft["threshold"] for c in draft["citations"])
    for sentence in draft["findings"]:  # every sentence is verbatim from the case it cites
        assert sentence["text"] in FINDINGS[cited[sentence["citation"]]["case"]]
    negated = [s for s in draft["findings"] if s["text"] == "No midline shift."]
    assert negated and negated[0]["assertion"] == "negated" and negated[0]["negated_terms"]
    assert "- No midline shift. [" in draft["text"] and "(negated)" in draft["text"]
    assert draft["impression"][0]["text"] == "Meningioma"


def test_draft_refuses_when_no_case_is_close(medpix_index, tmp_path):
    index, db_args = medpix_index
    odd = tmp_path / "odd.png"
    write_png(odd, 7, seed=5, noise=0)  # a pattern no case has
    out = _invoke("draft", odd, "--index", index, "--min-score", "0.9", *db_args)
    assert out.startswith("no similar case close enough")
    draft = json.loads(_invoke("draft", odd, "--index", index, "--min-score", "0.9", "--json", *db_args))
    assert draft["status"] == "no_close_case" and draft["findings"] == [] and draft["citations"] == []


def test_diverse_caps_hits_per_case(medpix_index):
    from medsearch.teaching.groups import distinct_groups

    index, db_args = medpix_index
    plain = json.loads(_invoke("query", "meningioma", "--index", index, "--k", "6", "--json", *db_args))
    spread = json.loads(_invoke("query", "meningioma", "--diverse", "--index", index, "--k", "6", "--json", *db_args))
    assert len({h["case"] for h in spread}) == len(spread) == 6
    assert len({h["case"] for h in plain}) < 6
    assert distinct_groups([type("H", (), h) for h in spread]) == 6


def test_reindex_keeps_cases_and_rebuild_replaces_them(medpix_index, tmp_path):
    index, db_args = medpix_index
    root = tmp_path / "medpix"
    out = _invoke("index", "--manifest", "medpix", "--root", root, "--index", index, "--model", "fake",
                  "--workers", "0", *db_args)
    assert "cases (new or changed)" not in out  # nothing changed
    records = json.loads((root / "Case_topic.json").read_text())
    records[0]["Case"]["Findings"] = "Changed findings here."
    (root / "Case_topic.json").write_text(json.dumps(records))
    out = _invoke("index", "--manifest", "medpix", "--root", root, "--index", index, "--model", "fake",
                  "--workers", "0", *db_args)
    assert "cases (new or changed)" in out
    with _open(index, db_args) as idx:
        changed = idx.store.case("medpix", "MPX0001")
        assert changed.sections["findings"] == "Changed findings here."
        assert changed.extra["lexical_terms"]["changed"] == 1  # stored for the lexical case search
        terms = idx.store.case("medpix", "MPX0002").extra["lexical_terms"]
        assert "embolus" in terms and "pneumothorax" not in terms  # "No pneumothorax." is negated


def test_deleting_every_item_of_a_case_removes_its_case(medpix_index):
    from medsearch.errors import StoreError

    index, db_args = medpix_index
    with _open(index, db_args) as idx:
        keys = [item.key for item in idx.store.case_items("medpix", "MPX0001")]
    assert len(keys) >= 2
    _invoke("delete", "--index", index, "--key", keys[0], *db_args)
    with _open(index, db_args) as idx:
        assert idx.store.case("medpix", "MPX0001").key == "MPX0001"  # one item left: the case stays
    _invoke("delete", "--index", index, *[arg for key in keys[1:] for arg in ("--key", key)], *db_args)
    with _open(index, db_args) as idx:
        with pytest.raises(StoreError):
            idx.store.case("medpix", "MPX0001")
        assert idx.store.case("medpix", "MPX0002").key == "MPX0002"


# -- pure parts -------------------------------------------------------------------------------------------------

def test_mmr_order_caps_groups_and_spreads_duplicates():
    from medsearch.teaching.diverse import mmr_order

    vectors = np.array([[1, 0], [1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    relevance = np.array([0.9, 0.89, 0.8, 0.5], dtype=np.float32)
    assert mmr_order(relevance, vectors, ["a", "b", "c", "d"], 4, None, 1.0) == [0, 1, 2, 3]
    assert mmr_order(relevance, vectors, ["a", "a", "c", "d"], 4, 1, 1.0) == [0, 2, 3]
    assert mmr_order(relevance, vectors, ["a", "b", "c", "d"], 2, None, 0.5)[1] != 1  # the duplicate waits


@pytest.mark.parametrize("a,b,same", [
    ("Arteriovenous Malformation (AVM)", "arteriovenous malformations", True),
    ("Meningioma", "Meningioma, atypical", True),
    ("Meningioma", "Glioblastoma multiforme", False),
    ("Pulmonary Embolism", "Pulmonary Edema", False),
    (None, "Meningioma", False),
])
def test_same_diagnosis(a, b, same):
    from medsearch.teaching.diagnosis import same_diagnosis

    assert same_diagnosis(a, b) is same


def test_sentences_are_verbatim_and_marked():
    from medsearch.teaching.sentences import assertion, split_sentences

    text = "No pleural effusion. A 2 cm mass in the RUL.\nFindings may represent infection. Mass without effusion."
    sentences = split_sentences(text)
    assert sentences == ["No pleural effusion.", "A 2 cm mass in the RUL.", "Findings may represent infection.",
                         "Mass without effusion."]
    assert all(s in text for s in sentences)
    assert [assertion(s) for s in sentences] == ["negated", "asserted", "uncertain", "partly negated"]


def test_threshold_is_a_low_quantile_of_nearest_other_case_similarity():
    from medsearch.teaching.calibrate import nearest_other_case

    vectors = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    nearest = nearest_other_case(vectors, ["a", "a", "b", "c"], np.arange(4))
    assert nearest.tolist() == pytest.approx([0.6, 0.6, 0.8, 0.8])  # same-case twins never count


def test_an_index_made_before_cases_upgrades_in_place(store_url):
    from alembic import command
    from sqlalchemy import create_engine, text

    from medsearch.store import Store
    from medsearch.store.migrate import alembic_config

    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(text("INSERT INTO archives (id, name, root, created) VALUES (1, 'old', '/r', CURRENT_TIMESTAMP)"))
        connection.execute(text("INSERT INTO items (id, archive_id, key, content_hash, extra) VALUES (1, 1, 'k', 'h', '{}')"))
        connection.execute(text("INSERT INTO images (id, item_id, path, vector_id) VALUES (1, 1, '/r/k.png', 0)"))
    engine.dispose()
    with Store.open(store_url) as store:
        record = store.records("image", [0])[0]
        assert record.key == "k" and record.case is None
        assert store.case_hashes(1) == {} and store.item_case_keys(1) == set()


@pytest.mark.slow
def test_real_medpix_with_the_default_model(shared_data, tmp_path):
    """The shipped model on the first 40 real MedPix images: grouped, differential and draft end to end."""
    index = tmp_path / "idx"
    _invoke("index", "--manifest", "medpix", "--root", shared_data / "medpix", "--index", index, "--limit", "40",
            "--workers", "0")
    first = json.loads((shared_data / "medpix" / "Descriptions.json").read_text())[0]  # indexed (--limit 40)
    image, case = shared_data / "medpix" / "images" / f"{first['image']}.png", first["U_id"]
    hits = json.loads(_invoke("query", "--image", image, "--group", "case", "--index", index, "--json"))
    assert hits[0]["case"] == case and hits[0]["sections"]["findings"] and hits[0]["item_score"] > 0.99
    assert len({h["case"] for h in hits}) == len(hits)
    differential = json.loads(_invoke("query", "--image", image, "--different-diagnosis", "--index", index, "--json"))
    assert differential["hits"] and all(h["case"] != case for h in differential["hits"])
    draft = json.loads(_invoke("draft", image, "--index", index, "--json"))
    assert draft["status"] == "ok" and draft["citations"][0]["case"] == case


def test_compose_keeps_what_two_of_three_cases_say_not_one_cases_alone():
    from medsearch.teaching.cases import CaseHit
    from medsearch.teaching.draft import compose

    def hit(n, findings, diagnosis, score):
        return CaseHit(rank=n, score=score, archive="a", case=f"C{n}", diagnosis=diagnosis,
                       sections={"findings": findings, "diagnosis": diagnosis}, item_score=score, licence="CC BY")

    hits = [hit(1, "• Large right pleural effusion. No pneumothorax.", "Effusion", 0.9),
            hit(2, "Moderate right pleural effusion. Dilated appendix.", "Effusion", 0.8),
            hit(3, "Ring-enhancing brain lesion.", "Abscess", 0.7)]
    findings, impression, citations = compose(hits)
    texts = [f.text for f in findings]
    assert texts == ["Large right pleural effusion."]  # bullet dropped, verbatim, from the nearest that says it
    # one case's alone, even the nearest's: not drafted
    assert not {"No pneumothorax.", "Dilated appendix.", "Ring-enhancing brain lesion."} & set(texts)
    supported = [f for f in findings if f.text == "Large right pleural effusion."][0]
    assert supported.supported_by == [2]
    assert [i.text for i in impression] == ["Effusion", "Abscess"] and [c.case for c in citations] == ["C1", "C2", "C3"]
