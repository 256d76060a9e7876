"""Text-query preparation: normalisation, abbreviation/synonym expansion and prompt-template ensembles.

A query is normalised (Unicode, case, punctuation, whitespace), expanded with the clinical lexicon
(``"PE"`` -> ``"pulmonary embolism"``; the style ``"keep"`` gives ``"pulmonary embolism (pe)"``) and then embedded once per template of
a template set; the normalised embeddings are averaged and renormalised (the open_clip zero-shot recipe).
No torch here: the encoder does the embedding.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from medsearch.errors import BadQuery, UnknownName
from medsearch.models.base import l2_normalise

# Template sets by name. "{}" is the query itself; every set keeps the bare query so that a short
# finding ("pneumothorax") and a caption-like query both stay close to their plain embedding.
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "clinical": (
        "{}",
        "Findings consistent with {}.",
        "Radiographic appearance of {}.",
        "An image showing {}.",
        "A medical image of {}.",
        "Imaging demonstrates {}.",
    ),
    "radiology": (
        "{}",
        "A radiograph showing {}.",
        "A CT scan showing {}.",
        "An MRI showing {}.",
        "An ultrasound image showing {}.",
    ),
    "report": (
        "{}",
        "Findings: {}.",
        "Impression: {}.",
        "The study shows {}.",
    ),
    "none": ("{}",),
}

# Which set a text query uses per target when the ensemble is on: captions of images vs report text.
DEFAULT_TEMPLATE_SET = {"image": "clinical", "text": "report"}


class UnknownTemplateSet(UnknownName):
    def __init__(self, name: str, valid):
        super().__init__("template set", name, valid)


def templates(name: str) -> tuple[str, ...]:
    try:
        return TEMPLATE_SETS[name]
    except KeyError:
        raise UnknownTemplateSet(name, list(TEMPLATE_SETS)) from None


def fill(query: str, template_set: str) -> list[str]:
    return [t.format(query) for t in templates(template_set)]


def ensemble_embedding(encoder, query: str, template_set: str = "clinical") -> np.ndarray:
    """One (dim,) unit vector: mean of the normalised template embeddings, renormalised."""
    vectors = l2_normalise(encoder.encode_texts(fill(query, template_set)))
    return l2_normalise(vectors.mean(axis=0))


# --- normalisation -----------------------------------------------------------------------------------

_DROP = re.compile(r"[!\"#$%&()*,:;<=>?@\[\]\\^_`{|}~]")
_LONE_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")  # keeps decimals such as "2.5 cm"
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, lower case, punctuation to spaces (hyphens, slashes, apostrophes and decimals kept), one space."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'")
    text = _LONE_DOT.sub(" ", _DROP.sub(" ", text))
    return _SPACES.sub(" ", text).strip(" '-/")


# --- lexicon -----------------------------------------------------------------------------------------


# How a matched term is rewritten: (when the phrase is new to the query, when the query already has it).
# "replace" is the default: on the phrasing benchmark (57 groups, demo index, default model) it gave mean top-10
# Jaccard 0.544 (text->image) / 0.584 (text->text) against 0.416 / 0.479 for "keep", whose leftover
# abbreviation token pulls the embedding away from the clinical phrase.
EXPANSION_STYLES: dict[str, tuple[str, str]] = {
    "replace": ("{phrase}", ""),
    "keep": ("{phrase} ({term})", "{term}"),
}
DEFAULT_EXPANSION_STYLE = "replace"


class UnknownExpansionStyle(UnknownName):
    def __init__(self, name: str, valid):
        super().__init__("expansion style", name, valid)


class Lexicon:
    """Case-insensitive, whole-word term -> clinical phrase. Longer terms win ("heart attack" before "heart")."""

    def __init__(self, entries: dict[str, str], style: str = DEFAULT_EXPANSION_STYLE):
        if style not in EXPANSION_STYLES:
            raise UnknownExpansionStyle(style, list(EXPANSION_STYLES))
        self.style = style
        self.entries = {normalise(term): normalise(phrase) for term, phrase in entries.items()}
        alternatives = sorted(self.entries, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<!\w)(" + "|".join(re.escape(t) for t in alternatives) + r")(?!\w)"
        ) if alternatives else None

    def __len__(self) -> int:
        return len(self.entries)

    def terms_in(self, normalised_query: str) -> list[str]:
        """The lexicon's terms the query uses, as written ("heart failure" of "acute heart failure")."""
        return [m.group(1) for m in self._pattern.finditer(normalised_query)] if self._pattern else []

    def expand(self, normalised_query: str) -> str:
        """Rewrite each term by the style (default: its clinical phrase); a phrase already in the query is not
        added twice."""
        if self._pattern is None:
            return normalised_query
        new_phrase, phrase_present = EXPANSION_STYLES[self.style]

        def rewrite(match: re.Match) -> str:
            term = match.group(1)
            phrase = self.entries[term]
            present = re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", normalised_query)
            return (phrase_present if present else new_phrase).format(phrase=phrase, term=term)

        return _SPACES.sub(" ", self._pattern.sub(rewrite, normalised_query)).strip()


LEXICON_PATH = Path(__file__).parent / "data" / "lexicon.json"


@lru_cache(maxsize=1)
def lexicon_data() -> dict:
    """The lexicon file, read and parsed once per process (the expansion here, the lexical clauses' concept groups
    and anatomy in medsearch.lexical.query): read it, never change it."""
    return json.loads(LEXICON_PATH.read_text("utf-8"))


@lru_cache(maxsize=4)
def default_lexicon(style: str = DEFAULT_EXPANSION_STYLE) -> Lexicon:
    data = lexicon_data()
    return Lexicon({**data["abbreviations"], **data["lay_terms"], **data.get("spellings", {})}, style=style)


def prepare_query(query: str, expand: bool = True, lexicon: Lexicon | None = None) -> str:
    """The text that gets embedded: normalised, then expanded with the lexicon when ``expand``."""
    if not isinstance(query, str) or not query.strip():
        raise BadQuery("empty query", hint="give some words to search for, e.g. 'pleural effusion'")
    text = normalise(query)
    if not any(c.isalnum() for c in text):  # punctuation, symbols, emoji, control characters: no word to search for
        raise BadQuery(f"query {query!r} has no words after normalisation", hint="use letters or numbers")
    if expand:
        text = (lexicon or default_lexicon()).expand(text)
    return text


# Queries longer than this many words are caption-like: they are embedded as written (whitespace collapsed), with no
# template: on ROCO val + MedPix dev (benchmarks/query_defaults.py, text->image, medsearch-default@85430f6c0ee6)
# the caption as written gave mean R@10 55.0, normalised + lexicon 53.8, + the template ensemble 53.3. Short queries
# (abbreviations, lay terms, a finding) keep normalisation, the lexicon and the ensemble.
ENSEMBLE_MAX_WORDS = 5


def template_set_for(target: str, ensemble: bool = True, query: str | None = None) -> str:
    """The template set a query uses: the target's default set, or "none" when the ensemble is off or the query
    is caption-like (more than ENSEMBLE_MAX_WORDS words)."""
    if not ensemble or (query is not None and len(query.split()) > ENSEMBLE_MAX_WORDS):
        return "none"
    return DEFAULT_TEMPLATE_SET.get(target, "none")


def dense_query(query: str, target: str = "image", ensemble: bool = True, expand: bool = True) -> tuple[str, str, str]:
    """(normalised query, text to embed, template set) for a dense text query.

    A caption-like query (more than ENSEMBLE_MAX_WORDS words) is embedded as written with no template; a short one
    as normalised and lexicon-expanded text through the target's template ensemble."""
    text = prepare_query(query, expand=expand)
    if len(normalise(query).split()) > ENSEMBLE_MAX_WORDS:  # words as typed, before lexicon expansion
        return text, " ".join(query.split()), "none"
    return text, text, template_set_for(target, ensemble)


def embed_query(
    encoder,
    query: str,
    target: str = "image",
    ensemble: bool = True,
    expand: bool = True,
    template_set: str | None = None,
) -> np.ndarray:
    """Query text -> (dim,) unit vector for searching the ``target`` ("image" or "text") vectors, the way
    ``Index.embed_text`` makes it (``template_set`` forces a set on the normalised text)."""
    normalised, text, chosen = dense_query(query, target, ensemble, expand)
    if template_set is not None:
        text, chosen = normalised, template_set
    return ensemble_embedding(encoder, text, chosen)


def list_template_sets() -> Sequence[str]:
    return list(TEMPLATE_SETS)
