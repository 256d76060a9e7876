"""Clinical tokenisation, sentence-level assertion and query clauses (pure Python, no store)."""

from __future__ import annotations

import pytest

from medsearch.lexical.assertion import analyse
from medsearch.lexical.query import decide, match_clause, parse
from medsearch.lexical.tokens import terms


@pytest.mark.parametrize("text, expected", [
    ("C5-C6 disc", {"c5", "c6", "c5c6", "disc"}),
    ("T2-weighted", {"t2", "weighted", "t2weighted"}),
    ("a 4 cm mass", {"4", "cm", "4cm", "mass"}),
    ("a 2.5cm nodule", {"2p5", "cm", "2p5cm", "nodule"}),
    ("Bilateral pleural effusions", {"bilateral", "pleural", "effusion"}),
    ("XXXX opacities", {"opacity"}),
])
def test_clinical_tokens_keep_levels_sequences_and_sizes(text, expected):
    assert set(terms(text)) == expected


def _statuses(text):
    return {t.term: t.status for s in analyse(text) for t in s.terms}


@pytest.mark.parametrize("text, term, status", [
    ("No pneumothorax, pleural effusion, or consolidation.", "consolidation", "negated"),
    ("Pneumothorax excluded.", "pneumothorax", "negated"),
    ("There is no evidence of pneumothorax.", "pneumothorax", "negated"),
    ("Possible left lower lobe pneumonia.", "pneumonia", "uncertain"),
    ("Pneumonia cannot be excluded.", "pneumonia", "uncertain"),
    ("History of rib fracture.", "fracture", "historical"),
    ("Small left pneumothorax.", "pneumothorax", "asserted"),
    ("No interval change in the right effusion.", "effusion", "asserted"),  # pseudo-trigger
    ("No effusion but a small pneumothorax.", "pneumothorax", "asserted"),  # terminator
    ("No effusion. Large pneumothorax.", "pneumothorax", "asserted"),  # sentence end
])
def test_assertion_by_sentence(text, term, status):
    assert _statuses(text)[term] == status


def test_a_scope_ends_at_the_next_trigger():
    statuses = _statuses("No effusion, possible pneumonia.")
    assert statuses["effusion"] == "negated" and statuses["pneumonia"] == "uncertain"


@pytest.mark.parametrize("query, status", [
    ("no pneumothorax", "negated"), ("without effusion", "negated"), ("pneumothorax excluded", "negated"),
    ("possible pneumonia", "uncertain"), ("pneumonia", "asserted"), ("PTX", "asserted"),
])
def test_query_status(query, status):
    assert [c.status for c in parse(query).clauses] == [status]


def test_query_expansion_and_variants():
    assert ("pneumothorax",) in parse("PTX").clauses[0].variants
    assert ("cardiomegaly",) in parse("enlarged heart").clauses[0].variants
    assert ("cardiac", "enlargement") in parse("cardiomegaly").clauses[0].variants
    assert ("dyspnea",) in parse("SOB").clauses[0].variants


def test_laterality_is_a_constraint_that_bilateral_satisfies():
    clause = parse("left pleural effusion").clauses[0]
    assert clause.sides and "left" in clause.sides[0] and "bilateral" in clause.sides[0] and "right" not in clause.sides[0]
    assert decide(clause, match_clause(clause, analyse("Small left pleural effusion."))) == "asserted"
    assert decide(clause, match_clause(clause, analyse("Bilateral pleural effusions."))) == "asserted"
    assert decide(clause, match_clause(clause, analyse("Small right pleural effusion."))) == "absent"


def test_decisions_for_positive_and_negated_queries():
    positive, negated = parse("pneumothorax").clauses[0], parse("no pneumothorax").clauses[0]
    said_no, said_yes = analyse("No pneumothorax."), analyse("Small apical pneumothorax.")
    assert decide(positive, match_clause(positive, said_no)) == "negated"
    assert decide(positive, match_clause(positive, said_yes)) == "asserted"
    assert decide(negated, match_clause(negated, said_no)) == "negated"
    assert decide(negated, match_clause(negated, said_yes)) == "asserted"
    assert decide(negated, match_clause(negated, analyse("Clear lungs."))) == "absent"


def test_no_finding_to_suggest_another_stays_negated():
    assert _statuses("There are no airspace opacities to suggest pneumonia.")["pneumonia"] == "negated"
    assert _statuses("Findings suggest pneumonia.")["pneumonia"] == "uncertain"


def test_modality_words_do_not_outweigh_the_finding():
    clauses = parse("CT pulmonary angiogram showing pulmonary embolism").clauses
    assert [c.label for c in clauses] == ["pulmonary embolism"] and not clauses[0].slots
    assert [c.label for c in parse("brain tumor on MRI").clauses] == ["brain neoplasm"]
    assert [c.label for c in parse("MRI").clauses] == ["magnetic resonance imaging"]  # alone, it is the query
    assert ("chest", "pain") in parse("chest pain on CT").clauses[0].variants
