"""Report drafts say what the similar cases agree on: a finding is drafted only when enough of the cases state it
(with its assertion), the normal statements most of them make are added once, and every sentence is verbatim from
a case it cites. Tiny reports made here; no encoder (``compose`` works on case hits)."""

from __future__ import annotations

import pytest

from medsearch.teaching.cases import CaseHit
from medsearch.teaching.draft import compose
from medsearch.teaching.findings import NO_FINDING, Statement, present_findings, sentence_statements

REPORTS = [
    # the nearest case holds two findings no other case states, and an effusion three others deny
    "Lungs are clear. Small left pleural effusion. No pneumothorax. Calcified granuloma in the right upper lobe.",
    "The heart is enlarged. No pleural effusion or pneumothorax. The lungs are clear.",
    "Cardiomegaly. No pleural effusion. Lungs are clear bilaterally.",
    "Mild enlargement of the cardiac silhouette. No pneumothorax or pleural effusion.",
    "Normal chest. No acute disease.",
]


def _hits(reports, diagnoses=None):
    return [CaseHit(rank=n, score=1.0 - n / 20, archive="iu", case=f"R{n}", sections={"findings": text},
                    item_score=1.0 - n / 20, licence="open", diagnosis=(diagnoses or {}).get(n))
            for n, text in enumerate(reports, start=1)]


def test_a_sentence_states_findings_with_their_assertion():
    assert sentence_statements("No focal consolidation, pneumothorax or pleural effusion.") == {
        Statement("consolidation", "absent"), Statement("pneumothorax", "absent"), Statement("effusion", "absent")}
    # other wordings of one finding are that finding; a wording inside a longer one is not a finding of its own
    assert sentence_statements("Heart size is mildly enlarged.") == {Statement("cardiomegaly", "present")}
    assert sentence_statements("Calcified granuloma in the right upper lobe.") == {Statement("granuloma", "present")}
    assert sentence_statements("Possible small left effusion.") == {Statement("effusion", "uncertain")}
    assert sentence_statements("The lungs are clear and the heart is normal in size.") == frozenset()


def test_finding_labels_leave_out_negated_and_uncertain_findings():
    assert present_findings(["No pneumothorax.", "Heart size is normal."]) == {NO_FINDING}
    assert present_findings(["Possible small left effusion.", "No pneumothorax."]) == {NO_FINDING}
    assert present_findings(["Small left pleural effusion.", "No pneumothorax."]) == {"effusion"}


def test_a_draft_keeps_what_enough_cases_agree_on_and_cites_a_case_that_says_it():
    hits = _hits(REPORTS)
    findings, _, citations = compose(hits)
    texts = [f.text for f in findings]
    # one case alone: not drafted, even the nearest one's
    assert "Small left pleural effusion." not in texts
    assert "Calcified granuloma in the right upper lobe." not in texts
    assert not {"Normal chest.", "No acute disease."} & set(texts)
    # three cases state cardiomegaly, each in its own words: drafted once, from the nearest of them, the others cited
    enlarged = [f for f in findings if Statement("cardiomegaly", "present") in sentence_statements(f.text)]
    assert [(f.text, f.citation, f.supported_by) for f in enlarged] == [("The heart is enlarged.", 2, [3, 4])]
    # the effusion three cases deny and the pneumothorax three deny: drafted negated
    denied = set().union(*(sentence_statements(f.text) for f in findings if f.assertion == "negated"))
    assert {Statement("effusion", "absent"), Statement("pneumothorax", "absent")} <= denied
    assert all(f.negated_terms for f in findings if f.assertion == "negated")
    # the normal statement most cases make, once
    clear = [f for f in findings if "clear" in f.text]
    assert len(clear) == 1 and clear[0].citation == 1 and clear[0].supported_by == [2, 3]
    # every sentence verbatim from the case it cites; no sentence twice
    for f in findings:
        assert f.text in REPORTS[f.citation - 1]
    assert len(texts) == len(set(texts)) and [c.case for c in citations] == ["R1", "R2", "R3", "R4", "R5"]


def test_cases_that_disagree_draft_neither_side():
    reports = ["Small right pleural effusion. Lungs are clear.", "No pleural effusion. Lungs are clear.",
               "Right pleural effusion. The lungs are clear.", "No pleural effusion. Clear lungs."]
    findings, _, _ = compose(_hits(reports))
    assert [f.text for f in findings] == ["Lungs are clear."]


def test_the_draft_follows_the_order_of_a_report():
    reports = ["No pneumothorax. The heart is enlarged.", "Cardiomegaly. No pneumothorax.",
               "Enlarged heart. No pneumothorax."]
    findings, _, _ = compose(_hits(reports))
    # the nearest case's wording; the order most cases give (the heart first)
    assert [f.text for f in findings] == ["The heart is enlarged.", "No pneumothorax."]


def test_one_close_case_is_no_consensus_and_the_draft_says_so():
    from medsearch.teaching.draft import ONE_CASE, draft_from_hits

    findings, impression, citations = compose(_hits(REPORTS[:1], {1: "Effusion"}))
    assert findings == [] and [i.text for i in impression] == ["Effusion"] and len(citations) == 1
    draft = draft_from_hits(_hits(REPORTS[:1]), threshold=0.5)
    assert draft.status == "ok" and draft.text().startswith(ONE_CASE) and draft.citations[0].case == "R1"
    # two cases are enough when both say it
    findings, _, _ = compose(_hits(["Cardiomegaly. No pneumothorax.", "The heart is enlarged. Small effusion."]))
    assert [f.text for f in findings] == ["Cardiomegaly."]


@pytest.mark.parametrize("limit", [1, 2])
def test_a_present_finding_outranks_normal_statements_when_sentences_are_capped(limit):
    findings, _, _ = compose(_hits(REPORTS), max_sentences=limit)
    assert len(findings) == limit and findings[0].text == "The heart is enlarged."


def test_cases_that_agree_on_nothing_say_so_not_that_they_hold_no_text():
    from medsearch.teaching.draft import NO_AGREEMENT, NO_TEXT, draft_from_hits

    apart = draft_from_hits(_hits(["Small right pleural effusion.", "No pleural effusion.", "Dilated appendix.",
                                   "Right pleural effusion.", "No pleural effusion."]), threshold=0.5)
    assert apart.status == "ok" and not apart.findings and apart.text().startswith(NO_AGREEMENT)
    assert NO_AGREEMENT in apart.message and apart.best_score == pytest.approx(0.95)
    empty = draft_from_hits([CaseHit(rank=1, score=0.9, archive="a", case="C1", item_score=0.9)], threshold=0.5)
    assert empty.text().startswith(NO_TEXT) and NO_TEXT in empty.message


def test_the_cli_and_the_api_draft_from_the_chosen_number_of_cases():
    import inspect

    from medsearch.commands.draft import draft_command
    from medsearch.serve.routes.teaching import draft
    from medsearch.teaching.draft import CASES, MAX_SENTENCES

    command = inspect.signature(draft_command).parameters
    assert command["cases"].default == CASES and command["sentences"].default == MAX_SENTENCES
    assert inspect.signature(draft).parameters["cases"].default.default == CASES


def test_a_differential_without_agreed_findings_says_the_findings_are_not_agreed():
    from medsearch.teaching.draft import draft_from_hits

    draft = draft_from_hits(_hits(["Subdural hematoma.", "Ring-enhancing mass.", "Dural sinus thrombosis."],
                                  {1: "Subdural hematoma", 2: "Abscess", 3: "Venous thrombosis"}), threshold=0.5)
    assert not draft.findings and [i.text for i in draft.impression] == ["Subdural hematoma", "Abscess",
                                                                         "Venous thrombosis"]
    assert draft.text().startswith("FINDINGS: none that the similar cases agree on\nIMPRESSION:\n")
