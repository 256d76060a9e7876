"""Query expansion goes down the lexicon's concept hierarchy, never up: a query for a specific finding is not
answered by a broader wording of its group ("effusion" for "pleural effusion", "nodule" for "lung nodule"), nor a
modified finding by another organ's wording ("lung mass" for "renal mass")."""

from __future__ import annotations

import pytest
from conftest import write_text_index

from medsearch.lexical.query import parse
from medsearch.search import open_index


def _wordings(query):
    [clause] = parse(query).clauses
    return {" ".join(v) for v in clause.variants}


@pytest.mark.parametrize("query, kept, left_out", [
    ("pleural effusion", {"pleural effusion", "pleural fluid"}, {"effusion"}),
    ("lung nodule", {"pulmonary nodule", "lung nodule"}, {"nodule"}),
    ("pulmonary embolism", {"pulmonary embolism", "pulmonary embolus"}, {"embolus"}),  # "emboli" folds to it
    ("renal mass", {"mass"}, {"pulmonary mass", "lung mass"}),
    ("knee joint effusion", {"effusion"}, {"pleural effusion", "pleural fluid"}),
    ("subsegmental atelectasis", {"subsegmental atelectasis"}, {"atelectasis"}),
])
def test_a_specific_query_is_not_answered_by_a_broader_wording(query, kept, left_out):
    wordings = _wordings(query)
    assert kept <= wordings and not wordings & left_out


@pytest.mark.parametrize("query, narrower", [
    ("effusion", {"pleural effusion", "pleural fluid"}),  # a broad query may be answered by narrower findings
    ("nodule", {"pulmonary nodule", "lung nodule"}),
    ("atelectasis", {"subsegmental atelectasis", "atelectatic"}),
])
def test_a_broad_query_expands_down(query, narrower):
    assert {query} | narrower <= _wordings(query)


def test_a_wording_is_never_broader_than_itself():
    # "effusion" is inside "pleural effusion", a narrower wording of the query "effusion": not broader than it
    [clause] = parse("effusion").clauses
    assert ("effusion",) in clause.variants and ("effusion",) not in clause.broader


def test_what_the_user_wrote_and_synonym_phrases_stay():
    assert "heart failure" in _wordings("heart failure")  # the lexicon rewrote it to "congestive heart failure"
    assert "dyspnea" in _wordings("SOB")  # SOB's phrase is "dyspnea shortness of breath": two synonyms
    assert "stroke" in _wordings("stroke")


def test_a_denial_still_reads_the_broader_wording():
    # "small bilateral effusions" in a chest report contradicts "no pleural effusion": the text does not name the
    # finding itself, so the broader wording's status decides (kept apart from the clause's own wordings)
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause

    [clause] = parse("no pleural effusion").clauses
    assert decide(clause, match_clause(clause, analyse("Small bilateral effusions."))) == "asserted"
    assert ("effusion",) not in clause.variants and ("effusion",) in clause.broader


TEXTS = [
    "Moderate right pleural effusion.",
    "MRI of the knee showing a large joint effusion.",
    "Moderate pericardial effusion on echocardiography.",
    "Sagittal MRI of the ankle with a small effusion.",
    "Spiculated nodule in the left breast.",
    "Hypoechoic nodule in the right lobe of the prostate.",
    "A 2 cm nodule in the right lung.",
    "Large lung mass in the right upper lobe.",
    "Enhancing renal mass in the left kidney.",
    "Normal chest radiograph.",
    "Healed fracture of the distal radius.",
    "Clear lungs.",
    "No fracture.",
    "No calcified lymph nodes.",
]


@pytest.fixture(scope="module")
def caption_index(tmp_path_factory):
    with open_index(write_text_index(tmp_path_factory.mktemp("captions") / "index", TEXTS)) as index:
        yield index


@pytest.mark.parametrize("query, expected", [
    ("pleural effusion", {0}),  # not the knee, pericardial or ankle effusion
    ("lung nodule", {6}),  # not the breast or prostate nodule
    ("renal mass", {8}),  # not the lung mass
    ("knee joint effusion", {1}),
])
def test_the_lexical_hits_are_the_finding_asked_for(caption_index, query, expected):
    hits = caption_index.search_text(query, k=len(TEXTS), target="text", mode="lexical")
    assert {int(h.key[1:]) for h in hits} == expected


def test_a_relaxed_match_is_not_reduced_to_a_broader_wording():
    # "effusion" in 5 of 1,000 sentences is rare enough to match alone, but it is broader than "pleural effusion"
    from medsearch.lexical.query import Clause, relaxation_units, relaxed_alternatives

    [clause] = parse("pleural effusion").clauses
    # the pleura named in a fifth of the sentences (any form): a chest archive, where a relaxed match may leave it
    # unsaid (query.anatomy)
    counts = {"pleural": 3, "effusion": 5, "fluid": 40, "pleural effusion": 2, "pleural fluid": 1,
              "pleura pleural": 200}

    def count(unit):
        return counts.get(" ".join(t for v in unit.variants for t in v), 0)

    def held(clause):
        return {frozenset([t for v in a.variants for t in v] + [t for s in a.slots for t in s])
                for a in relaxed_alternatives(clause, {u: count(u) for u in relaxation_units(clause)}, 1000)}

    found = held(clause)
    # no bare "effusion": it goes with the pleura (any form), where the pleural wording is held whole
    assert frozenset({"effusion"}) not in found and frozenset({"effusion", "pleura", "pleural"}) in found
    plain = Clause(status="asserted", variants=clause.variants)  # without the lexicon's broader wordings
    assert frozenset({"effusion"}) in held(plain)


@pytest.mark.parametrize("text, decision", [
    ("No effusion.", "negated"),  # denying the broader denies the finding
    ("Small bilateral effusions.", "absent"),  # asserting the broader does not assert it
    ("Large right pleural effusion.", "asserted"),
])
def test_denying_a_broader_wording_denies_the_finding(text, decision):
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause

    [clause] = parse("pleural effusion").clauses
    assert decide(clause, match_clause(clause, analyse(text))) == decision
    # the assertion check asks the full-text index for the texts that deny the broader wording (and do not name
    # the finding itself)
    assert ("effusion",) in [b.wording for b in clause.readings("negated")]


@pytest.mark.parametrize("query", ["rib fracture", "no rib fracture"])
def test_a_denied_finding_inside_the_wording_denies_it_whatever_the_query_says(caption_index, query):
    # "fracture" is a finding of its own, not a wording of the rib fracture's group: "No fracture." denies a rib
    # fracture for the assertion check of "rib fracture" and for the search "no rib fracture" alike
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause
    from medsearch.query.fusion import assertion_sets

    [clause] = parse(query).clauses
    assert decide(clause, match_clause(clause, analyse("No fracture."))) == "negated"
    [found] = assertion_sets(caption_index.store, [clause])  # the same check, made by the store
    assert {int(r.key[1:]) for r in caption_index.store.items(found["negated"]).values()} == {12}


@pytest.mark.parametrize("query", ["calcified granuloma", "no calcified granuloma"])
@pytest.mark.parametrize("text", ["No calcified lymph nodes.", "Calcified aorta."])
def test_a_finding_that_only_qualifies_the_wording_speaks_not_for_it(query, text):
    # "calcified" is a finding of the lexicon inside "calcified granuloma", but no broader one: not its head
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause

    [clause] = parse(query).clauses
    assert decide(clause, match_clause(clause, analyse(text))) == "absent"


def _decision(query, text):
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause

    [clause] = parse(query).clauses
    return decide(clause, match_clause(clause, analyse(text)))


# The text's own wording of the finding decides before a broader one: a broader wording speaks for the finding
# only in a text that does not name it.
OWN_WORDING_FIRST = [
    ("no pleural effusion", "No pleural effusion. Small effusion in the knee.", "negated"),
    ("no pleural effusion", "No pleural effusion. Small pericardial effusion.", "negated"),
    ("no pleural effusion", "Small bilateral effusions.", "asserted"),  # no specific mention: the broader decides
    ("no pleural effusion", "No effusion.", "negated"),
    ("no pleural effusion", "Small left pleural effusion. No effusion on the right.", "asserted"),
    ("pleural effusion", "Small left pleural effusion. No effusion on the right.", "asserted"),
    ("pleural effusion", "No effusion.", "negated"),
    ("no rib fracture", "No rib fracture. Healed fracture of the right clavicle.", "negated"),
]


@pytest.mark.parametrize("query, text, decision", OWN_WORDING_FIRST)
def test_the_texts_own_wording_decides_before_a_broader_one(query, text, decision):
    assert _decision(query, text) == decision


# A broader wording names the finding only as itself: a phrase (all its words side by side), not part of another of
# the lexicon's wordings in that sentence ("mass effect", "pericardial effusion", "nodular opacity").
BROADER_NAMES_IT = [
    ("brain tumor", "No mass effect.", "absent"),
    ("no brain tumor", "No mass effect.", "absent"),
    ("lung mass", "No mass effect.", "absent"),
    ("lung mass", "No mass or adenopathy.", "negated"),
    ("pleural effusion", "No pericardial effusion.", "absent"),
    ("no pleural effusion", "Small pericardial effusion.", "absent"),
    ("pleural effusion", "No effusion.", "negated"),
    ("rib fracture", "No acute fracture.", "negated"),
    ("rib fracture", "No vertebral compression fracture.", "absent"),
    ("consolidation", "No focal opacity.", "negated"),
    ("consolidation", "No nodular opacity.", "absent"),
    ("interstitial lung disease", "No interstitial disease.", "negated"),
    ("interstitial lung disease", "No interstitial edema or acute disease.", "absent"),  # not the phrase
]


@pytest.mark.parametrize("query, text, decision", BROADER_NAMES_IT)
def test_a_broader_wording_speaks_for_the_finding_only_when_it_names_it(query, text, decision):
    assert _decision(query, text) == decision


@pytest.mark.parametrize("query", ["no brain tumor", "no pleural effusion"])
def test_a_denial_is_no_lexical_hit_through_another_findings_wording(tmp_path, query):
    # "No mass effect." / "No pericardial effusion." deny neither the brain tumor nor the pleural effusion: the
    # full-text search of the denied query does not match them, and their explanation says the finding is absent
    texts = {"no brain tumor": ["No mass effect.", "No intracranial mass."],
             "no pleural effusion": ["No pericardial effusion.", "No effusion."]}[query]
    [clause] = parse(query).clauses
    with open_index(write_text_index(tmp_path / "index", texts)) as index:
        found = index.store.lexical_search("text", clause, limit=10)
        hits = {h.key: h for h in index.search_text(query, k=len(texts), target="text", mode="lexical")}
    assert {item for item, _, _ in found} == {2}  # store item ids count from 1, in the texts' order
    assert hits["c00"].assertion == {clause.label: "absent"} and hits["c01"].assertion == {clause.label: "negated"}
