"""Query expansion goes down the lexicon's concept hierarchy, never up: a query for a specific finding is not
answered by a broader wording of its group ("effusion" for "pleural effusion", "nodule" for "lung nodule"), nor a
modified finding by another organ's wording ("lung mass" for "renal mass")."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_test_index

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
    # "small bilateral effusions" in a chest report contradicts "no pleural effusion"
    assert "effusion" in _wordings("no pleural effusion")


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
    index_dir = tmp_path_factory.mktemp("captions") / "index"
    items = [dict(archive="captions", key=f"c{i:02d}", text=t) for i, t in enumerate(TEXTS)]
    write_test_index(index_dir, items, Path("/captions"))
    with open_index(index_dir) as index:
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
    assert frozenset({"pleura", "pleural"}) in found and frozenset({"effusion"}) not in found
    plain = Clause(status="asserted", variants=clause.variants)  # without the lexicon's broader wordings
    assert frozenset({"effusion"}) in held(plain)


@pytest.mark.parametrize("text, decision", [
    ("No effusion.", "negated"),  # denying the broader denies the finding
    ("Small bilateral effusions.", "absent"),  # asserting the broader does not assert it
    ("Large right pleural effusion.", "asserted"),
])
def test_denying_a_broader_wording_denies_the_finding(text, decision):
    import dataclasses

    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause

    [clause] = parse("pleural effusion").clauses
    assert decide(clause, match_clause(clause, analyse(text))) == decision
    # the assertion check asks the full-text index for the finding denied with the clause in the negated status
    assert ("effusion",) in dataclasses.replace(clause, status="negated").searched_wordings()


@pytest.mark.parametrize("query", ["rib fracture", "no rib fracture"])
def test_a_denied_finding_inside_the_wording_denies_it_whatever_the_query_says(caption_index, query):
    # "fracture" is a finding of its own, not a wording of the rib fracture's group: "No fracture." denies a rib
    # fracture for the assertion check of "rib fracture" and for the search "no rib fracture" alike
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause
    from medsearch.query.fusion import assertion_sets

    [clause] = parse(query).clauses
    assert decide(clause, match_clause(clause, analyse("No fracture."))) == "negated"
    [found] = assertion_sets(caption_index.store, "text", [clause])  # the same check, made by the store
    assert {int(r.key[1:]) for r in caption_index.store.items(found["negated"]).values()} == {12}


@pytest.mark.parametrize("query", ["calcified granuloma", "no calcified granuloma"])
@pytest.mark.parametrize("text", ["No calcified lymph nodes.", "Calcified aorta."])
def test_a_finding_that_only_qualifies_the_wording_speaks_not_for_it(query, text):
    # "calcified" is a finding of the lexicon inside "calcified granuloma", but no broader one: not its head
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.query import decide, match_clause

    [clause] = parse(query).clauses
    assert decide(clause, match_clause(clause, analyse(text))) == "absent"
