"""A short form of the lexicon that a text defines as something else is read as the text means it
(medsearch.lexical.abbreviations): definitions found by the Schwartz-Hearst patterns and legends, used by the
sentence analysis, the full-text index and explanations; other short forms stay as written."""

from __future__ import annotations

import pytest
from conftest import write_text_index

from medsearch.lexical.abbreviations import best_long_form, definitions, expansions
from medsearch.lexical.assertion import analyse
from medsearch.search import open_index


@pytest.mark.parametrize("text, short, long_form", [
    ("Echocardiography: pericardial effusion (PE) with RV collapse.", "PE", "pericardial effusion"),
    ("Trial-to-trial prediction error (PE) values entered a linear model.", "PE", "prediction error"),
    ("A TAA (thoracic aortic aneurysm) in the ascending aorta.", "TAA", "thoracic aortic aneurysm"),
    ("LV: left ventricle, LA: left atrium, PE: pericardial effusion.", "PE", "pericardial effusion"),
    ("Multidetector Computed Tomography Angiography (MDCTA): median plane.", "MDCTA",
     "Multidetector Computed Tomography Angiography"),
    ("Axial T2-weighted (T2W) image of the cord.", "T2W", "T2-weighted"),
])
def test_a_definition_is_found_in_each_pattern(text, short, long_form):
    assert (short, long_form) in [(s, lf) for s, lf, _ in definitions(text)]


@pytest.mark.parametrize("text", [
    "CT chest of a patient with PE.",  # used, never defined
    "CT: chest shows a mass in the left lung.",  # a legend whose words do not spell the short form
    "Deviation of the median nerve toward the fracture site of the radius (arrow).",  # not written as a short form
    "Lateral view (AP and lateral).",  # no long form spelled by "AP" before it
])
def test_no_definition_where_there_is_none(text):
    assert definitions(text) == ()


def test_the_long_form_is_the_shortest_that_spells_the_short_form():
    assert best_long_form("PE", "the patient had a large pulmonary embolism") == "pulmonary embolism"
    assert best_long_form("PE", "the patient had a large cardiac tamponade") is None


def test_each_use_of_a_defined_short_form_reads_as_its_long_form_with_its_status():
    text = "Pericardial effusion (PE) on echocardiography. No PE after drainage."
    sentences = analyse(text)
    first, second = ([(t.term, t.status) for t in s.terms] for s in sentences)
    assert "pe" not in [term for term, _ in first + second]  # the defining "(PE)" is dropped, not doubled
    assert ("pericardial", "negated") in second and ("effusion", "negated") in second
    effusion = next(t for t in sentences[1].terms if t.term == "effusion")
    assert text[effusion.start:effusion.end] == "PE"  # highlighted where the text says it


@pytest.mark.parametrize("text", [
    "CT chest of a patient with PE.",  # used, never defined: the lexicon decides what it stands for
    "Pulmonary embolus (PE) in the left lower lobe artery.",  # defined as the lexicon reads it
    "Coronal maximum intensity projection (MIP) of the shunt.",  # not a short form of the lexicon
])
def test_other_short_forms_stay_as_written(text):
    assert expansions(text) == {}
    short = "mip" if "MIP" in text else "pe"
    assert short in [t.term for s in analyse(text) for t in s.terms]


CAPTIONS = [
    "Transthoracic echo: large pericardial effusion (PE) with right ventricular collapse.",
    "CT chest image of a male patient with PE.",
    "Pulmonary embolism (PE) in the left lower lobe artery. PE also in the right main artery.",
    "Trial-to-trial prediction error (PE) values entered a random effects model.",
    "Normal chest radiograph.",
    "Maximum Intensity Projection (MIP). Complex perianal fistula.",
]


@pytest.fixture(scope="module")
def caption_index(tmp_path_factory):
    with open_index(write_text_index(tmp_path_factory.mktemp("captions") / "index", CAPTIONS, key="c{}",
                                     split="test")) as index:
        yield index


def test_a_search_for_pulmonary_embolism_finds_the_texts_whose_pe_is_one(caption_index):
    hits = caption_index.search_text("pulmonary embolism", k=5, target="text", mode="lexical")
    assert {h.key for h in hits} == {"c1", "c2"}  # not the pericardial effusion, not the prediction error


def test_a_search_for_the_defined_long_form_explains_the_short_form(caption_index):
    hits = caption_index.search_text("pericardial effusion", k=5, target="text", mode="lexical")
    assert [h.key for h in hits] == ["c0"]
    assert hits[0].assertion == {"pericardial effusion": "asserted"}


def test_a_short_form_the_user_types_finds_the_text_that_defines_it(caption_index):
    hits = caption_index.search_text("MIP", k=5, target="text", mode="lexical")
    assert [h.key for h in hits] == ["c5"]
