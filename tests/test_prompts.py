"""Query normalisation, lexicon expansion and template ensembles (fake encoder, no torch)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medsearch.errors import BadQuery, UnknownName
from medsearch.models.fake import FakeEncoder
from medsearch.prompts import (
    LEXICON_PATH,
    TEMPLATE_SETS,
    Lexicon,
    default_lexicon,
    embed_query,
    ensemble_embedding,
    normalise,
    prepare_query,
    templates,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Pleural   EFFUSION. ", "pleural effusion"),
        ("Rule out: PTX?", "rule out ptx"),
        ("2.5 cm nodule.", "2.5 cm nodule"),
        ("T1-weighted, axial", "t1-weighted axial"),
        ("patient\u2019s chest", "patient's chest"),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("PE", "pulmonary embolism"),
        ("pe", "pulmonary embolism"),
        ("Rule out PTX.", "rule out pneumothorax"),
        ("collapsed lung", "pneumothorax"),
        ("Heart attack", "myocardial infarction"),
        ("blood clot in the lung", "pulmonary embolism"),
        ("SOB", "dyspnea shortness of breath"),
        ("CXR with CHF", "chest x-ray with congestive heart failure"),
        ("post-PE changes", "post-pulmonary embolism changes"),
        ("Subdural haematoma", "subdural hematoma"),
        ("oedema", "edema"),
    ],
)
def test_expansion_replaces_terms_with_clinical_phrases(query, expected):
    assert prepare_query(query) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("PE", "pulmonary embolism (pe)"),
        ("collapsed lung, left", "pneumothorax (collapsed lung) left"),
        ("pulmonary embolism (PE)", "pulmonary embolism pe"),
    ],
)
def test_keep_style_keeps_the_original_term(query, expected):
    assert prepare_query(query, lexicon=default_lexicon("keep")) == expected


def test_expansion_is_whole_word_only():
    # "pe" inside "pelvis" / "type" and "mi" inside "mild" must stay untouched
    assert prepare_query("mild pelvis type") == "mild pelvis type"


def test_phrase_already_present_is_not_added_twice():
    assert prepare_query("pulmonary embolism (PE)") == "pulmonary embolism"
    assert prepare_query("PE, pulmonary embolism") == "pulmonary embolism"


def test_unknown_expansion_style_lists_valid_ones():
    with pytest.raises(UnknownName, match="unknown expansion style 'nope'") as err:
        Lexicon({"pe": "pulmonary embolism"}, style="nope")
    assert "keep, replace" in err.value.one_line()


def test_no_expand_only_normalises():
    assert prepare_query("  PE. ", expand=False) == "pe"


def test_longest_term_wins():
    lex = Lexicon({"heart": "cardiac", "heart attack": "myocardial infarction"})
    assert lex.expand("heart attack") == "myocardial infarction"
    assert lex.expand("heart size") == "cardiac size"


def test_lexicon_file_is_large_and_well_formed():
    data = json.loads(LEXICON_PATH.read_text())
    assert len(data["abbreviations"]) >= 80
    assert len(data["lay_terms"]) >= 30
    for key in ("PE", "PTX", "SOB", "CXR", "MI", "CHF", "COPD", "DVT", "AAA", "ICH", "SAH"):
        assert key in data["abbreviations"], key
    assert len(default_lexicon()) == len(data["abbreviations"]) + len(data["lay_terms"]) + len(data["spellings"])


@pytest.mark.parametrize("query", ["", "   ", "?!,", "\U0001F600", "\x00", "-- / '"])
def test_empty_query_is_refused(query):
    # a query with no letter or digit has nothing to search for: an emoji or a NUL byte was embedded as [UNK]
    # and answered with arbitrary dense hits, while "???" was refused
    with pytest.raises(BadQuery):
        prepare_query(query)


def test_unknown_template_set_lists_valid_names():
    with pytest.raises(UnknownName) as err:
        templates("nope")
    for name in TEMPLATE_SETS:
        assert name in err.value.one_line()
    assert err.value.exit_code == 2


def test_ensemble_is_renormalised_mean_of_template_embeddings():
    enc = FakeEncoder()
    got = ensemble_embedding(enc, "pneumothorax", "clinical")
    each = enc.encode_texts([t.format("pneumothorax") for t in TEMPLATE_SETS["clinical"]])
    mean = each.mean(axis=0)
    np.testing.assert_allclose(got, mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)
    assert abs(np.linalg.norm(got) - 1.0) < 1e-5


def test_embed_query_without_ensemble_or_expansion_is_the_plain_embedding():
    enc = FakeEncoder()
    got = embed_query(enc, "Pneumothorax!", ensemble=False, expand=False)
    np.testing.assert_allclose(got, enc.encode_texts(["pneumothorax"])[0], rtol=1e-5, atol=1e-6)


def test_embed_query_uses_the_report_templates_for_text_targets():
    enc = FakeEncoder()
    to_text = embed_query(enc, "effusion", target="text", expand=False)
    np.testing.assert_allclose(to_text, ensemble_embedding(enc, "effusion", "report"), rtol=1e-5, atol=1e-6)
    to_image = embed_query(enc, "effusion", target="image", expand=False)
    assert not np.allclose(to_text, to_image)


def test_caption_like_queries_are_embedded_without_templates(monkeypatch):
    from medsearch import prompts

    monkeypatch.setattr(prompts, "ENSEMBLE_MAX_WORDS", 3)
    enc = FakeEncoder()
    long_query = "Large  LEFT pleural effusion, with collapse (SOB)."
    as_written = "Large LEFT pleural effusion, with collapse (SOB)."
    np.testing.assert_allclose(embed_query(enc, long_query), enc.encode_texts([as_written])[0], atol=1e-6)
    short = embed_query(enc, "pleural effusion", expand=False)
    np.testing.assert_allclose(short, ensemble_embedding(enc, "pleural effusion", "clinical"), atol=1e-6)
    assert prompts.dense_query(long_query)[1:] == (as_written, "none")
    assert prompts.dense_query("PE")[1:] == ("pulmonary embolism", "clinical")
    assert prompts.template_set_for("image", True, "pleural effusion") == "clinical"
    assert prompts.template_set_for("image", False, "pleural effusion") == "none"
