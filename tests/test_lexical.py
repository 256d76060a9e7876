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
    # findings joined by "or" with no trigger are alternatives, not assertions (a differential, or a list whose
    # "No" a de-identification dropped); a trigger's scope still rules, and "with or without" joins nothing
    ("Scarring or atelectasis in the right midlung.", "atelectasis", "uncertain"),
    ("Pleural effusions or pneumothorax.", "pneumothorax", "uncertain"),
    ("Bilateral effusions and/or atelectasis.", "effusion", "uncertain"),
    ("No pleural effusion or pneumothorax.", "pneumothorax", "negated"),
    ("History of pneumonia or tuberculosis.", "tuberculosis", "historical"),
    ("CT with or without contrast shows a liver mass.", "mass", "asserted"),
    ("Axial CT with and without contrast: renal mass.", "mass", "asserted"),
    # an "or" between two modifiers joins no findings: the finding they modify is asserted
    ("Nodule in the right or left lung.", "nodule", "asserted"),
    ("Fracture of the 4th or 5th rib.", "fracture", "asserted"),
    ("Stable 1 or 2 mm nodule.", "nodule", "asserted"),
    ("Mild and/or moderate cardiomegaly.", "cardiomegaly", "asserted"),
    # nor one after a pseudo-trigger that says "no" of a change: neither changed, both are there
    ("No change in the effusion or the atelectasis.", "atelectasis", "asserted"),
    ("Atelectasis or scarring, not changed.", "scarring", "uncertain"),  # the pseudo-trigger after: a differential
    # a trigger elsewhere in the sentence leaves the alternatives outside its scope uncertain
    ("Atelectasis or scarring, no effusion.", "scarring", "uncertain"),
    ("Atelectasis or scarring, no effusion.", "effusion", "negated"),
    ("No pneumothorax but atelectasis or scarring.", "atelectasis", "uncertain"),
    ("No pneumothorax but atelectasis or scarring.", "pneumothorax", "negated"),
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


def test_a_querys_or_is_the_searchers():
    # "or" in a query asks for either finding, present: a report's "A or B" is hedged, the query's is not
    assert [(c.label, c.status) for c in parse("pneumothorax or effusion").clauses] == [
        ("pneumothorax", "asserted"), ("effusion", "asserted")]
    assert {c.status for c in parse("no effusion or pneumothorax").clauses} == {"negated"}
    assert _statuses("Pneumothorax or effusion.")["pneumothorax"] == "uncertain"  # in a report


def test_modality_words_do_not_outweigh_the_finding():
    clauses = parse("CT pulmonary angiogram showing pulmonary embolism").clauses
    assert [c.label for c in clauses] == ["pulmonary embolism"] and not clauses[0].slots
    assert [c.label for c in parse("brain tumor on MRI").clauses] == ["brain neoplasm"]
    assert [c.label for c in parse("MRI").clauses] == ["magnetic resonance imaging"]  # alone, it is the query
    assert ("chest", "pain") in parse("chest pain on CT").clauses[0].variants


# --- the relaxed match: most of a clause, by information (counts of 1,000 sentences; "rare": at most 10) --------

def _alternatives(clause, counts, total=1000):
    """relaxed_alternatives as sets of held words and slots, from term counts ("a b" counts the wording)."""
    from medsearch.lexical.query import relaxation_units, relaxed_alternatives

    def count(unit):
        terms = [t for v in unit.variants for t in v]
        # a wording: its words in one sentence; any of several (an organ's forms and parts): the commonest of them
        return counts.get(" ".join(terms), 0) if len(unit.variants) == 1 else max(counts.get(t, 0) for t in terms)

    found = relaxed_alternatives(clause, {u: count(u) for u in relaxation_units(clause)}, total)
    assert all(a.sides == clause.sides and a.status == clause.status for a in found)
    return {frozenset([t for v in a.variants for t in v] + [t for s in a.slots for t in s]) for a in found}


def _clause(*variants, slots=(), status="asserted"):
    from medsearch.lexical.query import Clause

    return Clause(status=status, variants=tuple(tuple(v.split()) for v in variants),
                  slots=tuple((s,) for s in slots), sides=(("left", "bilateral"),))


def _organ(word):
    """The words an organ held is held in: any of its forms and parts (query.anatomy)."""
    from medsearch.lexical.query import anatomy

    return set(anatomy()[word])


BRAIN, LIVER, RADIUS, KIDNEY = _organ("brain"), _organ("liver"), _organ("radius"), _organ("kidney")


def test_a_relaxed_match_holds_more_than_half_of_a_wording():
    # the commoner word of two cannot match alone; the rarer can; of equal ones, neither
    assert _alternatives(_clause("brain tumor"), {"brain": 40, "tumor": 60}) == {frozenset(BRAIN)}
    assert _alternatives(_clause("brain tumor"), {"brain": 50, "tumor": 50}) == {frozenset(BRAIN | {"tumor"})}
    # a finding and the organ it is in: the organ alone, not the generic finding
    assert _alternatives(_clause("lesion", slots=["liver"]), {"lesion": 80, "liver": 20}) == {frozenset(LIVER)}
    # three units of similar weight: any two that keep the organ
    assert _alternatives(_clause("fracture", slots=["distal", "radius"]),
                         {"fracture": 30, "distal": 35, "radius": 40}) == {
        frozenset(RADIUS | {"fracture"}), frozenset(RADIUS | {"distal"})}


def test_a_wording_weighs_as_one_unit_against_the_organ():
    # "cystic lesion" (two words, each common) against "kidney": the whole wording weighs what its words in one
    # sentence weigh, so it does not outweigh the organ just by having two words
    counts = {"cyst": 30, "cystic": 25, "lesion": 80, "cystic lesion": 30, "kidney": 20}
    assert _alternatives(_clause("cyst", "cystic lesion", slots=["kidney"]), counts) == {frozenset(KIDNEY)}


def test_a_rare_word_matches_alone():
    # "granuloma" in 8 of 1,000 sentences is specific enough, though "calcified" (5) is rarer still
    assert _alternatives(_clause("calcified granuloma"), {"calcified": 5, "granuloma": 8}) == {
        frozenset({"calcified"}), frozenset({"granuloma"})}
    # but not without the organ the query names: "nodule" is no thyroid nodule, "eventration" (no organ named in
    # its sentence) no diaphragmatic one
    assert _alternatives(_clause("nodule", slots=["thyroid"]), {"nodule": 5, "thyroid": 30}) == {
        frozenset({"nodule", "thyroid"})}
    assert _alternatives(_clause("diaphragmatic eventration"), {"diaphragmatic": 1, "eventration": 8}) == {
        frozenset({"diaphragmatic", "diaphragm", "hemidiaphragm"})}


def test_the_lexicons_anatomy_is_one_organ_a_word():
    # a form listed under two organs would silently join them (the later group wins); every organ has its own words
    import json

    from medsearch.lexical.query import anatomy
    from medsearch.lexical.tokens import terms
    from medsearch.prompts import LEXICON_PATH

    groups = [terms(" ".join([organ, *others])) for organ, others in json.loads(LEXICON_PATH.read_text())["anatomy"].items()]
    words = [w for g in groups for w in dict.fromkeys(g)]
    assert len(groups) >= 80 and all(groups) and len(words) == len(set(words)) == len(anatomy())
    assert anatomy()["lung"][:2] == anatomy()["pulmonary"][:2] == ("lung", "pulmonary")  # its forms, then its parts


def test_an_organs_forms_are_its_own():
    # "cervical" is the spine's or the cervix's, not every "neck" (femoral neck fracture is no cervical fracture)
    assert _alternatives(_clause("fracture", slots=["cervical"]), {"fracture": 20, "cervical": 20, "neck": 20}) == {
        frozenset({"fracture", "cervical"})}
    # a plural the tokenizer leaves alone is a form of its organ: "hila" of "hilar"
    assert _alternatives(_clause("nodule", slots=["hilar"]), {"nodule": 5, "hilar": 30}) == {
        frozenset({"nodule", "hilum", "hila", "hilar"})}


def test_an_organs_parts_stand_for_it():
    # part-of (the lexicon's anatomy_parts): a vertebral level, a disc or the lumbar spine names the spine, the
    # lingula or the costophrenic angle the lung, a ventricle the heart and the brain; a part keeps its own forms
    # and is no whole ("lumbar" is no thoracic spine, a ventricle no atrium)
    from medsearch.lexical.query import anatomy

    assert {"spine", "vertebra", "disc", "l1", "lumbar", "sacrum", "sacral", "thoracolumbar"} <= set(anatomy()["spinal"])
    assert {"lung", "pulmonary", "hilum", "hilar", "lingula", "costophrenic"} <= set(anatomy()["lung"])
    assert "ventricular" in anatomy()["heart"] and "ventricular" in anatomy()["brain"]
    assert anatomy()["ventricle"] == ("ventricle", "ventricular") and anatomy()["lumbar"] == ("lumbar",)
    # a text naming only a part holds the organ: "fracture" (rare) beside a level, not alone (no rib fracture)
    assert _alternatives(_clause("fracture", slots=["spine"]), {"fracture": 2, "l1": 5}) == {
        frozenset(anatomy()["spine"]) | {"fracture"}}
    # and where the wording names the organ in words no text uses: held through its other forms and parts
    assert _alternatives(_clause("lung nodule"), {"nodule": 2, "lingula": 5}) == {
        frozenset(anatomy()["lung"]) | {"nodule"}}


def test_an_organ_named_beside_its_part_is_not_held_by_the_part_twice():
    # "lumbar spine deformity": "lumbar" holds the lumbar spine, not the spine a second time, so a sentence saying
    # "lumbar" alone ("lumbar hernia", "pain in the lumbar region") holds one of the two organs, not both
    from medsearch.lexical.query import relaxation_units, relaxed_alternatives

    clause = _clause("deformity", slots=["lumbar", "spine"])
    counts = {"deformity": 50, "lumbar": 20, "spine": 20}
    units = relaxation_units(clause)
    found = relaxed_alternatives(clause, {u: max(counts.get(t, 0) for v in u.variants for t in v) for u in units}, 1000)

    def holds(alternative, sentence):
        return (not alternative.variants or any(set(v) <= sentence for v in alternative.variants)) and all(
            set(slot) & sentence for slot in alternative.slots)

    assert found and not any(holds(a, {"lumbar"}) for a in found)
    assert any(holds(a, {"lumbar", "spine"}) for a in found) and any(holds(a, {"lumbar", "l4"}) for a in found)


def test_an_organ_the_archive_is_about_may_go_unsaid():
    # lung in more than a tenth of the sentences (a chest archive): its reports leave it unsaid, "infiltrate" will do
    assert _alternatives(_clause("infiltrate", slots=["lung"]), {"infiltrate": 70, "lung": 300}) == {
        frozenset({"infiltrate"})}
    assert _alternatives(_clause("infiltrate", slots=["lung"]), {"infiltrate": 70, "lung": 90}) == {
        frozenset({"infiltrate"} | _organ("lung"))}
    # of two organs named, one is enough
    assert _alternatives(_clause("spondylosis", slots=["thoracic", "spine"]),
                         {"spondylosis": 60, "thoracic": 60, "spine": 70}) == {
        frozenset({"spondylosis"} | _organ("chest")), frozenset({"spondylosis"} | _organ("spine")),
        frozenset(_organ("chest") | _organ("spine"))}


def test_the_lexicons_wordings_are_held_whole():
    # "filling defect pulmonary artery", the lexicon's wording of the pulmonary embolism the query states, is no
    # "filling" or "defect" (rare) beside a pulmonary word; the query's own wording may still be relaxed
    from medsearch.lexical.query import Clause

    pe = Clause(status="asserted", variants=(("pulmonary", "embolism"), ("filling", "defect", "pulmonary", "artery")),
                stated=(("pulmonary", "embolism"),))
    counts = {"pulmonary": 30, "embolism": 0, "filling": 3, "defect": 3, "artery": 40}
    assert all({"filling", "defect"} <= a for a in _alternatives(pe, counts))
    counts["embolism"] = 5
    assert frozenset({"embolism"} | _organ("lung")) in _alternatives(pe, counts)


def test_words_no_text_has():
    # the only wording holds a word no text has: weighed on the words the texts use
    assert _alternatives(_clause("surgical instrument"), {"surgical": 84}) == {frozenset({"surgical"})}
    # another wording can be held whole: the one with the missing word yields nothing ("mass" stays out)
    counts = {"brain": 40, "tumor": 60, "mass": 100}
    assert _alternatives(_clause("brain tumor", "intracranial mass"), counts) == {frozenset(BRAIN)}
    # a modifier no text has is left out of the weighing, and lets no such wording in ("mass" still stays out)
    assert _alternatives(_clause("brain tumor", "intracranial mass", slots=["parasagittal"]), counts) == {
        frozenset(BRAIN)}
    assert _alternatives(_clause("glioma"), {}) == set()


def test_a_denial_is_relaxed_to_any_of_its_words():
    # a text denying part of what the query denies cannot contradict it: no weighing, any word
    from medsearch.lexical.query import relaxation_units, relaxed_alternatives

    clause = _clause("calcified granuloma", "granuloma", status="negated")
    assert relaxation_units(clause) == []
    [relaxed] = relaxed_alternatives(clause, {}, 1000)
    assert relaxed.variants == (("calcified",), ("granuloma",)) and relaxed.sides == clause.sides


def test_idf_stays_positive_when_the_total_is_behind_a_count():
    # the store keeps its sentence count until a writer's new manifest; a unit counted after the write may match
    # more sentences than that total: it weighs as a unit in every sentence, never negatively
    from medsearch.lexical.query import idf

    assert idf(150, 100) == idf(150, 150) > 0
    assert idf(10, 1000) > idf(100, 1000) > 0


@pytest.mark.parametrize("query, text, status", [
    # the label names the finding: a text that states it without the query's modifiers gives its own status
    ("small left pleural effusion", "Chest radiography showing left sided pleural effusion.", "asserted"),
    ("fracture of the distal radius", "No fracture of the right acetabulum.", "negated"),
    ("small left pleural effusion", "Lungs are clear.", "absent"),
    ("small left pleural effusion", "Small left pleural effusion.", "asserted"),
    # the finding on another side than the query states: what the ranking decided (it does not contradict "no left
    # pleural effusion", nor answer "left pleural effusion"), and where the text has it
    ("no left pleural effusion", "Small right pleural effusion.", "asserted on the right"),
    ("left pleural effusion", "Small right pleural effusion.", "asserted on the right"),
    ("no right pleural effusion", "No right pleural effusion. Small left pleural effusion.", "negated"),
    ("bilateral pleural effusion", "No left pleural effusion.", "negated on the left"),
    ("no left pleural effusion", "Small pleural effusion.", "asserted, side not stated"),
    ("no left pleural effusion", "Bilateral pleural effusions.", "asserted"),
])
def test_an_explanation_gives_the_findings_own_status(query, text, status):
    from medsearch.lexical.explain import explain

    clause = parse(query).clauses[0]
    assert explain(text, [clause]).assertion == {clause.label: status}


@pytest.mark.parametrize("query, text, status", [
    # the sentences an explanation reads are found by a cheap test first: it must keep every sentence the ranking
    # reads, also one that names the finding only through a broader wording or in a spelling the tokenizer folds
    ("no airspace consolidation", "Right basilar air space disease.", "asserted"),
    ("no fibrotic scarring", "Apical scar.", "asserted"),
    ("hemorrhage", "Haemorrhage in the left frontal lobe.", "asserted"),
    ("brain tumor", "No tumours.", "negated"),
    ("2.5", "A 2.5 nodule.", "asserted"),
])
def test_an_explanation_reads_every_sentence_the_ranking_reads(query, text, status):
    from medsearch.lexical.assertion import analyse
    from medsearch.lexical.explain import explain

    [clause] = parse(query).clauses
    assert decide(clause, match_clause(clause, analyse(text))) == status  # what the ranking reads
    assert explain(text, [clause]).assertion == {clause.label: status}


def test_every_word_that_folds_to_a_term_holds_one_of_its_stems():
    from medsearch.lexical.tokens import _IRREGULAR, fold, normalise, stems
    from medsearch.prompts import lexicon_data

    words = {w for w in normalise(str(lexicon_data())).replace("'", " ").split() if w.isalpha()}
    words |= {w + s for w in list(words) for s in ("s", "es")} | {w[:-1] + "ies" for w in words if w.endswith("y")}
    words |= set(_IRREGULAR)
    assert {"bodies", "tumours", "haemorrhage", "opacities"} <= words
    assert not [w for w in words if not any(s in w for s in stems(fold(w)))]


def test_a_snippet_cut_from_a_long_sentence_starts_and_ends_on_whole_words():
    from medsearch.lexical.explain import SNIPPET_CHARS, explain
    from medsearch.lexical.query import parse

    text = ("Contrast enhanced computed tomography of the chest in the axial plane with lung windows that reveals "
            "bilateral hemothorax with a massive right pneumothorax and collapse of the right lower lobe and a small "
            "left pleural collection with air fluid levels extending toward the posterior costophrenic recesses.")
    why = explain(text, parse("pneumothorax").clauses)
    assert len(why.snippet) <= SNIPPET_CHARS
    start = text.index(why.snippet)
    assert start == 0 or text[start - 1] == " "  # the cut fell inside "hemothorax": it moves to the next word
    end = start + len(why.snippet)
    assert end == len(text) or not text[end].isalnum()
    a, b = why.highlights[0]
    assert why.snippet[a:b] == "pneumothorax"
