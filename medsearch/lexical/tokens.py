"""Clinical tokenisation shared by the index and the query, so both sides agree term for term.

Tokens are lower-case runs of letters and digits, so that every backend's full-text parser keeps them whole.
What a plain word split would lose is kept as an extra joined token: "C5-C6" -> c5, c6, c5c6; "T2-weighted" ->
t2, weighted, t2weighted; "4 cm" / "4cm" -> 4, cm, 4cm; "2.5 cm" -> 2p5, cm, 2p5cm. Plurals fold to the singular
("effusions" -> effusion, "opacities" -> opacity), de-identification marks (IU X-ray "XXXX") and a few filler
words are dropped. Every token keeps the character span of its source word, for highlighting.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# a word: letters/digits with inner hyphens or slashes or a decimal point ("c5-c6", "t2", "2.5", "s/p")
_WORD = re.compile(r"[^\W_]+(?:[-/.][^\W_]+)*")
_UNITS = frozenset({"mm", "cm", "m", "ml", "cc", "mg", "kg", "hu", "g", "l", "mmhg"})
_NUMBER = re.compile(r"\d+(?:p\d+)?")
_NUMBER_UNIT = re.compile(r"(\d+(?:p\d+)?)(mm|cm|ml|cc|hu)")
_DEID = re.compile(r"x{3,}")  # IU X-ray's XXXX
STOPWORDS = frozenset(
    "a an the of in on at to for and or with by from is are was were be been being this that these those it its as "
    "there here than then into onto over under within per via image images showing shows show demonstrating "
    "demonstrates demonstrate seen noted findings finding patient patients case cases picture photo view".split()
)
# irregular plurals and spellings the suffix rules would miss
_IRREGULAR = {"pneumothoraces": "pneumothorax", "thoraces": "thorax", "vertebrae": "vertebra", "bronchi": "bronchus",
              "emboli": "embolus", "embolism": "embolism", "diverticula": "diverticulum", "metastases": "metastasis",
              "calculi": "calculus", "lymphomas": "lymphoma", "ribs": "rib", "pleurae": "pleura",
              "haemorrhage": "hemorrhage", "oedema": "edema", "tumour": "tumor", "tumours": "tumor",
              "oesophagus": "esophagus", "fractured": "fracture", "xray": "xray"}
_KEEP_S = ("ss", "us", "is", "sis", "xis", "ous", "ics", "as", "ys")


@dataclass(frozen=True)
class Token:
    term: str
    start: int  # character span of the source word in the text
    end: int


def fold(word: str) -> str:
    """Lower-case word -> its index form (singular, American spelling)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and not any(c.isdigit() for c in word):
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("es") and word[-3] in "xz" or word.endswith(("ches", "shes")):
            return word[:-2]
        if word.endswith("s") and not word.endswith(_KEEP_S):
            return word[:-1]
    return word


_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")


def normalise(text: str) -> str:
    """NFKC, lower case, decimal points to "p" ("2.5" -> "2p5"); same length, so spans stay true."""
    text = unicodedata.normalize("NFKC", text)
    return _DECIMAL.sub("p", text.lower()) if len(text.lower()) == len(text) else _DECIMAL.sub("p", text).lower()


def _pieces(word: str) -> list[str]:
    return [p for p in re.split(r"[-/.]", word) if p]


def tokenize(text: str, keep_stopwords: bool = False) -> list[Token]:
    """Clinical tokens of ``text`` in order (extra joined tokens follow their parts, with the same span)."""
    text = normalise(text or "")
    out: list[Token] = []
    words = list(_WORD.finditer(text))
    for i, match in enumerate(words):
        word, start, end = match.group(0), match.start(), match.end()
        if _DEID.fullmatch(word):
            continue
        parts = _pieces(word)
        terms = [fold(p) for p in parts]
        if len(parts) > 1:
            joined = "".join(parts)
            if any(c.isdigit() for c in joined) or "-" in word:
                terms.append(fold(joined))
        # "4 cm": a number followed by a unit also gives "4cm"; "4cm" alone also gives 4 and cm
        glued = _NUMBER_UNIT.fullmatch(terms[-1]) if len(terms) == 1 else None
        if glued:
            terms = [glued.group(1), glued.group(2), terms[0]]
        if (len(terms) == 1 and _NUMBER.fullmatch(terms[0]) and i + 1 < len(words)
                and words[i + 1].group(0) in _UNITS and words[i + 1].start() - end <= 1):
            terms.append(terms[0] + words[i + 1].group(0))
        for term in dict.fromkeys(terms):
            if term and (keep_stopwords or term not in STOPWORDS):
                out.append(Token(term, start, end))
    return out


_WRITTEN_IRREGULARLY: dict[str, tuple[str, ...]] = {}
for _word, _term in _IRREGULAR.items():
    _WRITTEN_IRREGULARLY[_term] = _WRITTEN_IRREGULARLY.get(_term, ()) + (_word,)


def stems(term: str) -> tuple[str, ...]:
    """Strings one of which every word that folds to ``term`` holds (a normalised text that holds none of them
    cannot hold the term; a cheap test before tokenising): the term's first five characters, without the final "y"
    a plural writes "ies" ("body", "bodies"), and each irregular spelling's ("tumour" for "tumor"). Not a joined
    token's: "c5c6" is written "C5-C6", a test for it looks for its parts too (a query's terms include them)."""
    head = term[:5] if len(term) > 5 or not term.endswith("y") else term[:-1]
    return tuple(dict.fromkeys([head or term, *(w[:5] for w in _WRITTEN_IRREGULARLY.get(term, ()))]))


def terms(text: str) -> list[str]:
    return [t.term for t in tokenize(text)]
