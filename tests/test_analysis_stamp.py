"""The analysis stamp: which full-text analysis (assertion rules + analyser code) an index's texts were read
with, recorded in the manifest when every text was, and what an index whose stamp is not the running code's
says (info, query, Python, serve); `--reanalyse` as a stage of the indexing run. Tiny archives made here, fake
encoder."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import run_main

from medsearch.archives import open_archive
from medsearch.index_dir import IndexDir, read_manifest
from medsearch.lexical import stamp
from medsearch.models import load_encoder
from medsearch.search import open_index

from indexer.pipeline import IndexOptions, build_index

REPORTS = ["Large right pneumothorax with mediastinal shift.", "No pneumothorax or pleural effusion.",
           "Small left apical pneumothorax.", "Lungs are clear. No pneumothorax.", "Possible right pneumonia.",
           "Moderate left pleural effusion."]
ASSERTS_PTX = {"r0", "r2"}


def write_archive(root, reports=REPORTS):
    """A text-only csv archive: row i is key "rI" with text ``reports[i]``."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["id,image,text,labels,split,licence,modality"] + [f'r{i},,"{t}",,test,CC BY,' for i, t in enumerate(reports)]
    (root / "items.csv").write_text("\n".join(rows) + "\n")
    return root


def index(tmp_path, **options):
    options.setdefault("workers", 0)
    options.setdefault("progress", False)
    return build_index(open_archive("csv", tmp_path / "archive"), tmp_path / "idx", load_encoder("fake"),
                       IndexOptions(**options))


def set_stamp(index_dir, value=None):
    """The manifest as an older medsearch wrote it: no ``analysis`` field (None), or another stamp."""
    path = IndexDir(index_dir).manifest
    data = json.loads(path.read_text())
    data.pop("analysis", None)
    if value is not None:
        data["analysis"] = value
    path.write_text(json.dumps(data))


def lexical_keys(index_dir, query="pneumothorax", db_url=None):
    with open_index(index_dir, db_url=db_url) as idx:
        return {h.key for h in idx.search_text(query, k=3, target="text", mode="lexical")}


def forget_analysis(db_url):
    """As if the texts had been analysed by rules that find nothing: the full-text rows are gone."""
    from sqlalchemy import text

    from medsearch.store import Store

    with Store.open(db_url) as store, store.engine.begin() as connection:
        connection.execute(text("DELETE FROM lexical"))


def medpix_index_with_older_case_terms(tmp_path, **options):
    """A MedPix index (tiny factory) whose stored case terms are as an older analysis made them; returns
    (the MedPix root, ``build(**more options)``, which indexes it again)."""
    from medpix_factory import make_medpix

    from medsearch.store import Store
    from medsearch.teaching.case_lexical import TERMS_KEY

    root = make_medpix(tmp_path / "medpix")
    build = lambda **more: build_index(open_archive("medpix", root), tmp_path / "idx", load_encoder("fake"),
                                       IndexOptions(workers=0, progress=False, **options, **more))
    build()
    with Store.open(options.get("db_url") or IndexDir(tmp_path / "idx").default_db_url) as store:
        store.set_case_extras({key: {**extra, TERMS_KEY: {"older": 1}}
                               for key, (_, extra) in store.case_texts().items()})
    return root, build


# --- the running code's stamp ------------------------------------------------------------------------------


def test_the_stamp_follows_the_rules_content_not_their_layout(tmp_path, monkeypatch):
    from medsearch.lexical import assertion

    rules = json.loads(assertion.RULES_PATH.read_text("utf-8"))
    shipped = stamp.current_analysis()
    assert shipped.startswith(f"{stamp.ANALYSER_VERSION}.")
    stamp.current_analysis.cache_clear()
    try:
        relaid = tmp_path / "relaid.json"  # same rules, other spacing, other order, another '_about'
        relaid.write_text(json.dumps({**{k: rules[k] for k in reversed(list(rules))}, "_about": "edited"}, indent=1))
        monkeypatch.setattr(assertion, "RULES_PATH", relaid)
        assert stamp.current_analysis() == shipped
        stamp.current_analysis.cache_clear()
        edited = tmp_path / "edited.json"
        edited.write_text(json.dumps({**rules, "pseudo": rules["pseudo"] + ["no longer seen"]}))
        monkeypatch.setattr(assertion, "RULES_PATH", edited)
        assert stamp.current_analysis() != shipped
        stamp.current_analysis.cache_clear()
        monkeypatch.setattr(assertion, "RULES_PATH", relaid)
        monkeypatch.setattr(stamp, "ANALYSER_VERSION", stamp.ANALYSER_VERSION + 1)
        assert stamp.current_analysis() != shipped
    finally:
        stamp.current_analysis.cache_clear()


# What the analyser code (assertion.py, tokens.py, abbreviations.py) makes of a sample under fixed rules, per ANALYSER_VERSION.
# A change to that code that changes the analysis fails here: bump stamp.ANALYSER_VERSION (indexes built before
# then say they need --reanalyse) and add the new digest under it.
SAMPLE = ("No pneumothorax or pleural effusions. Possible RLL pneumonia vs atelectasis; history of C5-C6 fusion. "
          "Atelectasis or scarring. 2.5 cm nodule, unchanged. No change in the effusion or the atelectasis. "
          "Pericardial effusion (PE); no PE now.")
SAMPLE_RULES = {"negated": {"pre": ["no", "without"], "post": ["excluded"]}, "uncertain": {"pre": ["possible"],
                "post": ["vs"]}, "historical": {"pre": ["history of"]}, "pseudo": ["no change"],
                "terminators": ["but"], "alternatives": {"words": ["or"], "modifiers": ["left", "right"]}}
ANALYSIS_OF_SAMPLE = {2: "5b7473434da8"}  # version 1 had no short forms (its sample: no definition)


def test_the_analyser_version_changes_with_what_the_code_makes_of_a_text():
    from medsearch.lexical.assertion import Rules, analyse

    made = [(s.start, s.end, [(t.term, t.start, t.end, t.status) for t in s.terms])
            for s in analyse(SAMPLE, Rules(SAMPLE_RULES))]
    digest = hashlib.sha256(json.dumps(made).encode()).hexdigest()[:12]
    assert ANALYSIS_OF_SAMPLE.get(stamp.ANALYSER_VERSION) == digest, (
        f"the analyser now makes {digest} of the sample: if that is meant, bump stamp.ANALYSER_VERSION and record "
        "the digest under it")


# --- the stamp in the manifest ----------------------------------------------------------------------------


def test_a_new_index_is_stamped_and_says_so(tmp_path):
    write_archive(tmp_path / "archive")
    index(tmp_path)
    assert read_manifest(tmp_path / "idx").analysis == stamp.current_analysis()
    with open_index(tmp_path / "idx") as idx:
        assert idx.analysis.current_matches and idx.analysis.warning(idx.path) is None
        assert idx.info()["analysis"] == {"index": stamp.current_analysis(), "current": stamp.current_analysis(),
                                          "texts": True, "current_matches": True}


def test_an_old_index_opens_and_says_it_needs_reanalysis(tmp_path, capsys):
    write_archive(tmp_path / "archive")
    index(tmp_path)
    set_stamp(tmp_path / "idx")  # a manifest written before stamps
    with open_index(tmp_path / "idx") as idx:
        assert read_manifest(tmp_path / "idx").analysis is None
        assert not idx.analysis.current_matches
        assert idx.info()["analysis"]["index"] is None and idx.info()["analysis"]["current_matches"] is False
        assert {h.key for h in idx.search_text("pneumothorax", k=3, target="text", mode="lexical")} == ASSERTS_PTX
    # the index's own model named (it said no --model: the default model, which this index refuses)
    fix = f"medsearch index --manifest NAME --index {tmp_path / 'idx'} --model fake --reanalyse"
    assert "--model" not in stamp.reanalyse_command("idx", "medsearch-default")

    code, out, err = run_main(capsys, "info", "--index", str(tmp_path / "idx"))
    assert code == 0 and fix in " ".join(out.split())
    code, out, err = run_main(capsys, "info", "--index", str(tmp_path / "idx"), "--json")
    assert code == 0 and json.loads(out)["analysis"]["current_matches"] is False

    code, out, err = run_main(capsys, "query", "pneumothorax", "--index", str(tmp_path / "idx"), "--target",
                              "text", "--json")
    assert code == 0 and {h["key"] for h in json.loads(out)[:2]} == ASSERTS_PTX  # stdout: the hits alone
    warnings = [line for line in err.splitlines() if "--reanalyse" in line]
    assert len(warnings) == 1 and fix in warnings[0] and "warning" in warnings[0]

    set_stamp(tmp_path / "idx", stamp.current_analysis())
    code, out, err = run_main(capsys, "query", "pneumothorax", "--index", str(tmp_path / "idx"), "--target", "text")
    assert code == 0 and "--reanalyse" not in err


def test_an_index_without_texts_never_needs_reanalysis(tmp_path, capsys):
    from conftest import tiny_item, write_test_index

    (tmp_path / "images").mkdir()
    items = [{**tiny_item(i, tmp_path / "images"), "text": None} for i in range(4)]  # films without reports
    write_test_index(tmp_path / "idx", items, tmp_path / "images")
    set_stamp(tmp_path / "idx", "0.an-older-analysis")
    with open_index(tmp_path / "idx") as idx:
        assert idx.analysis.current_matches and idx.info()["analysis"]["texts"] is False
    code, out, err = run_main(capsys, "info", "--index", str(tmp_path / "idx"))
    assert code == 0 and "--reanalyse" not in out and "(current)" in out


def test_a_run_that_reads_only_some_texts_keeps_the_old_stamp(tmp_path):
    write_archive(tmp_path / "archive")
    index(tmp_path)
    set_stamp(tmp_path / "idx", "0.older")
    write_archive(tmp_path / "archive", REPORTS + ["Tension pneumothorax."])
    assert index(tmp_path).indexed == 1
    assert read_manifest(tmp_path / "idx").analysis == "0.older"  # five texts keep the older analysis
    index(tmp_path, rebuild=True)  # every text read again
    assert read_manifest(tmp_path / "idx").analysis == stamp.current_analysis()


# --- --reanalyse, a stage of the run ------------------------------------------------------------------------


def test_reanalyse_is_a_stage_of_the_run_on_both_stores(tmp_path, store_url):
    write_archive(tmp_path / "archive")
    first = index(tmp_path, db_url=store_url)
    assert "reanalyse" not in first.stage_seconds and first.reanalysed == 0
    set_stamp(tmp_path / "idx")
    forget_analysis(store_url)
    assert lexical_keys(tmp_path / "idx", db_url=store_url) == set()

    again = index(tmp_path, db_url=store_url, reanalyse=True)  # nothing new: only the texts are read again
    assert (again.indexed, again.unchanged) == (0, len(REPORTS))
    assert again.reanalysed > 0 and again.stage_seconds["reanalyse"] >= 0
    assert read_manifest(tmp_path / "idx").analysis == stamp.current_analysis()
    assert lexical_keys(tmp_path / "idx", db_url=store_url) == ASSERTS_PTX


def test_reanalyse_runs_under_the_index_lock(tmp_path, monkeypatch):
    from medsearch.errors import IndexBusy
    from medsearch.store import Store

    from indexer.lock import index_lock

    write_archive(tmp_path / "archive")
    index(tmp_path)
    rebuild, held = Store.rebuild_lexical, []

    def while_locked(self, *args, **kwargs):
        with pytest.raises(IndexBusy):
            with index_lock(tmp_path / "idx"):
                pass
        held.append(True)
        return rebuild(self, *args, **kwargs)

    monkeypatch.setattr(Store, "rebuild_lexical", while_locked)
    index(tmp_path, reanalyse=True)
    assert held == [True]


def test_reanalyse_shows_its_progress(tmp_path, capsys):
    write_archive(tmp_path / "archive")
    index(tmp_path)
    capsys.readouterr()
    index(tmp_path, reanalyse=True, progress=True)  # stderr is not a terminal here: log lines
    lines = [line for line in capsys.readouterr().err.splitlines() if "re-analysing" in line]
    assert lines and f"{len(REPORTS)}/{len(REPORTS)}" in lines[-1]


def test_the_cli_reanalyses_an_old_index_and_the_warning_goes(tmp_path, capsys):
    write_archive(tmp_path / "archive")
    index(tmp_path)
    set_stamp(tmp_path / "idx")
    forget_analysis(IndexDir(tmp_path / "idx").default_db_url)
    run = ("index", "--manifest", "csv", "--root", str(tmp_path / "archive"), "--index", str(tmp_path / "idx"),
           "--model", "fake", "--workers", "0")
    code, out, err = run_main(capsys, *run)  # a run without it says the index still needs it
    assert code == 0 and "texts re-analysed" not in out and f"--index {tmp_path / 'idx'} --model fake --reanalyse" in err
    code, out, err = run_main(capsys, *run, "--reanalyse")
    assert code == 0, err
    assert "reanalyse" in out and "texts re-analysed" in out
    assert lexical_keys(tmp_path / "idx") == ASSERTS_PTX
    code, out, err = run_main(capsys, "query", "pneumothorax", "--index", str(tmp_path / "idx"), "--target", "text")
    assert code == 0 and "--reanalyse" not in err


def test_serve_info_says_whether_the_index_needs_reanalysis(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.serve.app import create_app

    write_archive(tmp_path / "archive")
    index(tmp_path)
    with TestClient(create_app(lambda: open_index(tmp_path / "idx"))) as client:
        assert client.get("/api/info").json()["analysis"]["current_matches"] is True
        set_stamp(tmp_path / "idx")  # the open index sees the manifest change
        body = client.get("/api/info").json()
    assert body["analysis"] == {"index": None, "current": stamp.current_analysis(), "current_matches": False}


def test_reanalyse_reads_the_case_terms_again_on_both_stores(tmp_path, store_url):
    from medpix_factory import make_medpix

    from medsearch.store import Store
    from medsearch.teaching.case_lexical import TERMS_KEY, case_terms

    root = make_medpix(tmp_path / "medpix")
    options = dict(db_url=store_url, workers=0, progress=False)
    build_index(open_archive("medpix", root), tmp_path / "idx", load_encoder("fake"), IndexOptions(**options))
    with Store.open(store_url) as store:  # as if an older analysis had made other terms of every case
        texts = store.case_texts()
        store.set_case_extras({key: {**extra, TERMS_KEY: {"older": 1}} for key, (_, extra) in texts.items()})
        assert {extra[TERMS_KEY]["older"] for _, extra in store.case_texts().values()} == {1}
    build_index(open_archive("medpix", root), tmp_path / "idx", load_encoder("fake"),
                IndexOptions(reanalyse=True, **options))
    with Store.open(store_url) as store:
        after = store.case_texts()
    assert after.keys() == texts.keys() and len(after) > 1
    for key, (text, extra) in after.items():
        assert extra[TERMS_KEY] == dict(case_terms(text))
        assert {k: v for k, v in extra.items() if k != TERMS_KEY} == {k: v for k, v in texts[key][1].items()
                                                                       if k != TERMS_KEY}


def test_an_open_index_searches_the_case_terms_a_reanalysis_wrote(tmp_path):
    from medsearch.teaching.case_lexical import lexical_case_scores

    _, build = medpix_index_with_older_case_terms(tmp_path)
    with open_index(tmp_path / "idx") as idx:  # a server's index, open across the re-analysis
        assert lexical_case_scores(idx, "appendicolith", 5) == []
        build(reanalyse=True)
        # no search first: Index.derived was emptied only when a search reopened the index, so a draft's threshold
        # (read before its search) or a case query right after a re-index was the old snapshot's
        assert [key for key, _ in lexical_case_scores(idx, "appendicolith", 5)] == [("medpix", "MPX0007")]


def test_a_reanalysis_holds_an_sqlite_store_one_chunk_of_items_at_a_time(tmp_path, monkeypatch):
    # It ran as one transaction: on 45,912 texts (11 s) a search beside it waited out SQLite's 5 s busy timeout and
    # failed with 'database is locked'. Between chunks another connection can take the write lock, and every item
    # has its full-text rows (old or new, never none).
    import sqlite3

    from medsearch.store import Store, lexical

    write_archive(tmp_path / "archive")
    index(tmp_path)
    files = IndexDir(tmp_path / "idx")
    with Store.open(files.default_db_url) as store:
        before = sorted(store.engine.connect().exec_driver_sql(
            "SELECT item_id, asserted, negated, uncertain, historical FROM lexical").fetchall())
    monkeypatch.setattr(lexical, "REANALYSE_ITEMS", 2)
    items_with_rows, texts = [], []

    def between_chunks(n):
        texts.append(n)
        other = sqlite3.connect(files.store_file, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # 'database is locked' while the re-analysis holds the store
            items_with_rows.append(other.execute("SELECT count(DISTINCT item_id) FROM lexical").fetchone()[0])
            other.rollback()
        finally:
            other.close()

    with Store.open(files.default_db_url) as store:
        assert store.rebuild_lexical(between_chunks) == len(before)
        after = sorted(store.engine.connect().exec_driver_sql(
            "SELECT item_id, asserted, negated, uncertain, historical FROM lexical").fetchall())
    assert texts == [2, 2, 2] and items_with_rows == [len(REPORTS)] * 3
    assert after == before


def test_a_run_that_writes_every_item_again_stamps_the_case_terms_current_too(tmp_path):
    # Every item's content changed (here its caption; or a deleted archive indexed again): the run read every
    # text, so it stamps the index current, but the cases (same content) kept the terms an older analysis made.
    from medsearch.store import Store
    from medsearch.teaching.case_lexical import TERMS_KEY, case_terms

    root, build = medpix_index_with_older_case_terms(tmp_path)
    url = IndexDir(tmp_path / "idx").default_db_url
    set_stamp(tmp_path / "idx", "0.older")
    descriptions = root / "Descriptions.json"
    descriptions.write_text(descriptions.read_text().replace('"Caption": "', '"Caption": "Again: '))
    assert build().unchanged == 0
    assert read_manifest(tmp_path / "idx").analysis == stamp.current_analysis()
    with Store.open(url) as store:
        cases = store.case_texts()
    assert cases and all(extra[TERMS_KEY] == dict(case_terms(text)) for text, extra in cases.values())


def test_a_killed_first_run_leaves_an_index_the_next_run_stamps_current(tmp_path, monkeypatch):
    # The manifest a first run creates had no stamp until the run's end: killed after its items were stored, the
    # rerun had nothing left to write (written < items) and kept no stamp, so an index whose every text the
    # running code analysed said 'built before the stamp ... run --reanalyse' for good.
    from indexer.writer import IndexWriter

    write_archive(tmp_path / "archive")
    finalize = IndexWriter.finalize

    def killed(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(IndexWriter, "finalize", killed)
    with pytest.raises(KeyboardInterrupt):
        index(tmp_path)
    monkeypatch.setattr(IndexWriter, "finalize", finalize)
    summary = index(tmp_path)
    assert (summary.indexed, summary.unchanged) == (0, len(REPORTS))  # the killed run had stored every item
    assert read_manifest(tmp_path / "idx").analysis == stamp.current_analysis()
