"""The full-text index in the store, on SQLite (FTS5) and PostgreSQL (tsvector + GIN): built on write, in sync on
re-index and removal, assertion-aware, and created for an existing store by migration 0002."""

from __future__ import annotations

from medsearch.lexical.query import parse
from medsearch.archives.item import Item
from medsearch.store import NewItem, Store

TEXTS = {
    "a": "Small left pneumothorax. No effusion.",
    "b": "No pneumothorax or pleural effusion.",
    "c": "Possible pneumonia in the right lower lobe.",
    "d": "Right lower lobe pneumonia. Disc herniation at C5-C6 on T2 images. A 4 cm mass.",
    "e": "Bilateral pleural effusions are present.",
}


def _fill(store):
    archive = store.archive_id("t", "/t")
    store.add_items(archive, [NewItem(Item(key=k, text=t, image_path=f"/t/{k}.png", split="test" if k == "e" else "train"),
                                      content_hash=k, text_vector_id=i, image_vector_id=i)
                              for i, (k, t) in enumerate(TEXTS.items())])
    return archive


def _ids(store, query, target="text", **kwargs):
    return {v for clause in parse(query).clauses for _, v, _ in store.lexical_search(target, clause, **kwargs)}


def test_assertion_decides_what_matches(store):
    _fill(store)
    assert _ids(store, "pneumothorax") == {0}
    assert _ids(store, "no pneumothorax") == {1}
    assert _ids(store, "pneumonia") == {3}
    assert _ids(store, "possible pneumonia") == {2}
    assert _ids(store, "without effusion") == {0, 1}
    assert _ids(store, "left pleural effusion") == {4}
    assert _ids(store, "PTX", target="image") == {0}


def test_lexical_items_answers_each_clause_in_one_statement(store):
    """The assertion check's query: several clauses batched into one statement, each answered on its own (and in
    the order given), the same items as the ranked search of that clause."""
    import dataclasses

    _fill(store)
    pneumothorax = parse("pneumothorax").clauses[0]
    clauses = [dataclasses.replace(pneumothorax, status=s) for s in ("asserted only", "negated", "uncertain")]
    clauses += parse("pneumonia").clauses + parse("possible pneumonia").clauses
    found = store.lexical_items(clauses)
    by_key = {r.key: r.item_id for r in store.records("text", range(len(TEXTS))).values()}
    assert found == [{by_key["a"]}, {by_key["b"]}, set(), {by_key["d"]}, {by_key["c"]}]
    assert store.lexical_items([]) == []


def test_clinical_terms_are_searchable(store):
    _fill(store)
    for query in ("C5-C6", "T2", "4 cm", "4cm"):
        assert _ids(store, query) == {3}, query


def test_filters_apply(store):
    from medsearch.store.filters import Filters

    _fill(store)
    assert _ids(store, "pleural effusion", filters=Filters(split="test")) == {4}
    assert _ids(store, "pleural effusion", filters=Filters(split="train")) == set()


def test_reindex_and_removal_keep_the_index_in_sync(store):
    archive = _fill(store)
    store.add_items(archive, [NewItem(Item(key="a", text="Normal chest."), content_hash="a2", text_vector_id=0)])
    assert _ids(store, "pneumothorax") == set()
    assert _ids(store, "normal chest") == {0}
    store.remove_items(archive, ["d"])
    assert _ids(store, "C5-C6") == set()
    assert store.rebuild_lexical() > 0
    assert _ids(store, "no pneumothorax") == {1}


def test_migration_0002_indexes_an_existing_store(store_url):
    from alembic import command
    from sqlalchemy import insert

    from medsearch.store.engine import make_engine
    from medsearch.store.migrate import alembic_config
    from medsearch.store.models import ArchiveRow, ItemRow, TextRow

    engine = make_engine(store_url)
    with engine.begin() as connection:  # a store as the previous release made it: schema 0001, texts, no index
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(insert(ArchiveRow.__table__), [{"id": 1, "name": "old", "root": "/", "created": _now()}])
        connection.execute(insert(ItemRow.__table__), [{"id": 1, "archive_id": 1, "key": "k", "content_hash": "h",
                                                     "extra": {}}])
        connection.execute(insert(TextRow.__table__), [{"item_id": 1, "text": "Large right pneumothorax.",
                                                        "vector_id": 0}])
    engine.dispose()
    with Store.open(store_url) as store:
        assert _ids(store, "right pneumothorax") == {0}


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def test_relaxed_search_needs_the_informative_part(store):
    """On both backends: one sentence says "brain tumor"; relaxed, the rarer "brain" matches alone, the commoner
    "tumor" does not; ranked by all of the clause's words."""
    archive = store.archive_id("t", "/t")
    texts = ["Brain MRI with an arachnoid cyst.", "Gastric tumor.", "Duodenal tumor.", "Testicular tumor.",
             "Brain CT: no acute findings. Renal tumor.", "Lungs are clear.", "Heart size is normal.",
             "Tumor of the brain stem."] + ["Lungs are clear."] * 30  # so that "tumor" weighs something
    store.add_items(archive, [NewItem(Item(key=str(i), text=t), content_hash=str(i), text_vector_id=i)
                              for i, t in enumerate(texts)])
    clause = parse("brain tumor").clauses[0]
    assert [v for _, v, _ in store.lexical_search("text", clause)] == [7]
    relaxed = [v for _, v, _ in store.lexical_search("text", clause, relaxed=True)]
    assert set(relaxed) == {0, 4, 7} and relaxed[0] == 7  # both words outweigh "brain" alone


def test_relaxed_searches_count_the_sentences_once_per_state_of_the_database(store, monkeypatch):
    """A relaxed clause is weighed against the number of sentences, a scan of the table: counted by the first
    relaxed search, again after a write through the store or a change another process made (Store.changed, called
    by an open Index when a writer swaps in a new manifest), and not in between."""
    from medsearch.store import lexical

    counted = []
    count = lexical.sentence_count
    monkeypatch.setattr(lexical, "sentence_count", lambda connection: counted.append(count(connection)) or counted[-1])
    archive = store.archive_id("t", "/t")
    texts = ["Brain MRI with an arachnoid cyst.", "Gastric tumor.", "Duodenal tumor.", "Lungs are clear."]
    store.add_items(archive, [NewItem(Item(key=str(i), text=t), content_hash=str(i), text_vector_id=i)
                              for i, t in enumerate(texts)])
    brain_tumor, denial = parse("brain tumor").clauses[0], parse("no brain tumor").clauses[0]
    store.lexical_search("text", brain_tumor, relaxed=True)
    store.lexical_search("text", brain_tumor, relaxed=True)
    store.lexical_search("text", denial, relaxed=True)
    assert counted == [4]
    store.add_items(archive, [NewItem(Item(key="4", text="Brain stem glioma."), content_hash="4", text_vector_id=4)])
    assert 4 in {v for _, v, _ in store.lexical_search("text", brain_tumor, relaxed=True)}
    assert counted == [4, 5]
    store.changed()
    store.lexical_search("text", brain_tumor, relaxed=True)
    assert counted == [4, 5, 5]


# Each (query, text): the text's status for the query's finding, decided the same way by the Python check (used by
# the explanations) and by the store's assertion sets (used by the ranking): the text's own wording of the finding
# first, a broader wording only in a text that does not name it, and only as itself ("mass effect" is no mass,
# "pericardial effusion" no pleural effusion, "interstitial ... disease" no "interstitial disease").
DECISIONS = [
    ("no pleural effusion", "No pleural effusion. Small pericardial effusion.", "negated"),
    ("no pleural effusion", "No pleural effusion. Small effusion in the knee.", "negated"),
    ("no pleural effusion", "Small bilateral effusions.", "asserted"),
    ("no pleural effusion", "No effusion.", "negated"),
    ("no pleural effusion", "Small pericardial effusion.", "absent"),
    ("pleural effusion", "No pericardial effusion.", "absent"),
    ("pleural effusion", "No effusion.", "negated"),
    ("pleural effusion", "Small left pleural effusion. No effusion on the right.", "asserted"),
    ("no left pleural effusion", "Small right pleural effusion. No effusion on the left.", "negated"),
    ("brain tumor", "No mass effect.", "absent"),
    ("no brain tumor", "No mass effect.", "absent"),
    ("lung mass", "No mass or adenopathy.", "negated"),
    ("rib fracture", "No acute fracture.", "negated"),
    ("rib fracture", "No vertebral compression fracture.", "absent"),
    ("interstitial lung disease", "No interstitial disease.", "negated"),
    ("interstitial lung disease", "No interstitial edema or acute disease.", "absent"),
]


def test_the_store_decides_a_texts_status_as_the_python_check_does(store):
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import TIERS, decide, match_clause, tier
    from medsearch.query.fusion import assertion_sets, tier_from_sets

    archive = store.archive_id("t", "/t")
    texts = list(dict.fromkeys(text for _, text, _ in DECISIONS))
    store.add_items(archive, [NewItem(Item(key=f"k{i}", text=t), content_hash=f"k{i}", text_vector_id=i)
                              for i, t in enumerate(texts)])
    ids = {r.key: r.item_id for r in store.records("text", range(len(texts))).values()}
    for query, text, decision in DECISIONS:
        [clause] = parse(query).clauses
        assert decide(clause, match_clause(clause, analyse(text))) == decision, (query, text)
        item = ids[f"k{texts.index(text)}"]
        assert tier_from_sets([clause], assertion_sets(store, [clause]), item) == \
            TIERS[clause.status][decision] == tier(clause, decision), (query, text)


def test_a_denied_querys_search_reads_a_broader_wording_only_as_itself(store):
    # the ranked search of a denied finding also finds its broader wording denied ("No effusion."), as a phrase and
    # not inside another of the lexicon's wordings ("No pericardial effusion.", "No mass effect.")
    archive = store.archive_id("t", "/t")
    texts = ["No mass effect.", "No intracranial mass.", "No pericardial effusion.", "No effusion."]
    store.add_items(archive, [NewItem(Item(key=f"k{i}", text=t), content_hash=f"k{i}", text_vector_id=i)
                              for i, t in enumerate(texts)])
    assert _ids(store, "no brain tumor") == {1}
    assert _ids(store, "no pleural effusion") == {3}


# Generated reports for the agreement test below: one to three sentences, each a cue (denial, hedge, history) or
# none, one to three findings with or without a side, joined by "and", "or", a comma or "with", and a tail that may
# carry a cue of its own. The findings mix each wording's own form, its broader forms, the lexicon's wordings that
# contain a broader one ("pericardial effusion", "mass effect"), short forms (also one the text defines otherwise)
# and the tokenizer's odd inputs (hyphens, decimals, joined numbers and units, apostrophes, non-ASCII letters).
_FINDINGS = ["pleural effusion", "effusion", "effusions", "pericardial effusion", "knee joint effusion", "pleural fluid",
             "mass", "mass effect", "intracranial mass", "brain tumor", "lung mass", "fracture", "rib fracture",
             "acute fracture", "vertebral compression fracture", "fractures of the ribs", "pneumothorax", "PTX",
             "nodule", "lung nodule", "pulmonary nodules", "calcified granuloma", "granuloma", "cardiomegaly",
             "enlarged heart", "interstitial disease", "interstitial lung disease", "interstitial edema", "edema",
             "pulmonary edema", "opacity", "nodular opacity", "embolus", "pulmonary embolism", "PE", "atelectasis",
             "subsegmental atelectasis", "consolidation", "air space disease", "pneumonia", "hiatal hernia",
             "pericardial effusion (PE)", "2.5 cm nodule", "C5-C6 disc herniation", "non-hodgkin lymphoma",
             "Crohn's disease", "café-au-lait spot", "pleural-based mass", "L1 compression fracture", "scar",
             "acute disease", "space", "compression"]
_CUES = ["", "", "No", "No", "Without", "Possible", "Probable", "History of", "Small", "Resolved", "There is no",
         "No evidence of", "Questionable", "Prior"]
_TAILS = ["", "", "", "is seen", "is not seen", "has resolved", "cannot be excluded", "is likely"]
_SIDES = ["", "", "left", "right", "bilateral", "left-sided"]
_JOINS = [" or ", " and ", ", ", " with "]
_AGREEMENT_QUERIES = [
    "pleural effusion", "no pleural effusion", "effusion", "no effusion", "left pleural effusion",
    "no left pleural effusion", "possible pleural effusion", "history of pleural effusion", "mass", "no mass",
    "brain tumor", "no brain tumor", "lung mass", "no lung mass", "rib fracture", "no rib fracture", "no fracture",
    "no spine fracture", "pneumothorax", "no right pneumothorax", "lung nodule", "no nodule", "no calcified granuloma",
    "no cardiomegaly", "interstitial lung disease", "no interstitial lung disease", "no pulmonary edema",
    "pulmonary embolism", "no PE", "no airspace consolidation", "no hiatal hernia", "no small left pleural effusion",
    "no opacity", "no non-hodgkin lymphoma", "no C5-C6 herniation", "no 2.5 cm nodule", "no pneumonia or effusion"]


def _generated_reports(n: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)

    def sentence():
        body = ""
        for i in range(rng.choice([1, 1, 2, 3])):
            body += (rng.choice(_JOINS) if i else "") + f"{rng.choice(_SIDES)} {rng.choice(_FINDINGS)}".strip()
        words = " ".join(w for w in (rng.choice(_CUES), body, rng.choice(_TAILS)) if w)
        return words[0].upper() + words[1:] + "."

    return [" ".join(sentence() for _ in range(rng.choice([1, 2, 3]))) for _ in range(n)]


def test_the_store_and_the_python_check_agree_on_generated_reports(store):
    """Every status the Python check (match_clause: explanations, drafts) finds for each finding of a query is the
    one the store's assertion sets (the ranking's tiers) find, and no other, text by text: generated reports, the
    queries' own and broader wordings in every status, sides, odd tokens; SQLite and PostgreSQL."""
    from medsearch.lexical.assertion import STATUSES, analyse
    from medsearch.lexical.query import match_clause
    from medsearch.query.fusion import assertion_sets

    reports = _generated_reports(600, seed=11)
    archive = store.archive_id("t", "/t")
    store.add_items(archive, [NewItem(Item(key=f"k{i}", text=t), content_hash=f"k{i}", text_vector_id=i)
                              for i, t in enumerate(reports)])
    ids = {r.key: r.item_id for r in store.records("text", range(len(reports))).values()}
    analysed = [analyse(t) for t in reports]
    compared, found_somewhere, disagreements = 0, 0, []
    for query in _AGREEMENT_QUERIES:
        clauses = parse(query).clauses
        for clause, sets in zip(clauses, assertion_sets(store, clauses)):
            for i, report in enumerate(reports):
                in_python = match_clause(clause, analysed[i]).statuses
                in_store = {status for status in STATUSES if ids[f"k{i}"] in sets[status]}
                compared, found_somewhere = compared + 1, found_somewhere + bool(in_python)
                if in_python != in_store:
                    disagreements.append((query, clause.label, report, sorted(in_python), sorted(in_store)))
    assert not disagreements, disagreements[:5]
    assert compared > 10_000 and found_somewhere > compared // 10  # the corpus does name the queries' findings


def test_a_broader_wording_is_a_phrase_inside_one_status_on_both_backends(store):
    # a clause over several statuses (asserted: asserted and historical; assertion off: all four) reads a broader
    # wording as its words side by side in ONE status's terms, as match_clause does: "Prominent interstitial, no
    # disease." holds "interstitial" asserted and "disease" denied, no "interstitial disease" (PostgreSQL's
    # concatenated tsvector put the two side by side)
    from medsearch.lexical.query import Broader, Clause

    archive = store.archive_id("t", "/t")
    texts = ["Prominent interstitial, no disease.", "Chronic interstitial disease.", "No interstitial disease."]
    store.add_items(archive, [NewItem(Item(key=f"k{i}", text=t), content_hash=f"k{i}", text_vector_id=i)
                              for i, t in enumerate(texts)])
    for status, found in (("any", {1, 2}), ("asserted", {1}), ("negated", {2})):
        clause = Clause(status=status, variants=(), through=(Broader(("interstitial", "disease")),))
        assert {v for _, v, _ in store.lexical_search("text", clause)} == found, status
