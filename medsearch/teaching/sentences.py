"""Sentences of a report or case text, kept verbatim (a draft never rewrites what a source says), and a
stand-in assertion mark for each until the search-quality assertion module is on main.

Assertion marks: "present", "absent" (negated: "No pleural effusion."), "uncertain" ("may represent ...").
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? followed by space and an upper-case letter or digit, or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])|\n+")
_WORD = re.compile(r"[a-z0-9]+")
MIN_WORDS = 2
STOP_WORDS = frozenset("a an and are as at be by for from in is it of on or the this to was were with".split())

_NEGATION = re.compile(
    r"\b(no|not|without|absent|negative for|free of|resolved|resolution of|removed|ruled out|rule out|"
    r"there is no|there are no|none|nor|neither|unremarkable)\b", re.IGNORECASE)
_UNCERTAIN = re.compile(
    r"\b(may|might|possible|possibly|probable|probably|likely|suspect(?:ed)?|suggest(?:s|ive|ing)?|"
    r"question(?:able)?|cannot be excluded|can not be excluded|concern for|versus|vs\.?|differential)\b",
    re.IGNORECASE)


def split_sentences(text: str | None) -> list[str]:
    """Verbatim sentences (each a substring of ``text``), with at least MIN_WORDS words."""
    if not text:
        return []
    pieces = [piece.strip() for piece in _BOUNDARY.split(text)]
    return [p for p in pieces if len(_WORD.findall(p.lower())) >= MIN_WORDS]


def words(sentence: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(sentence.lower()) if w not in STOP_WORDS)


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def local_assertion(sentence: str) -> str:
    """A NegEx-style mark: "absent" when a negation cue is present, "uncertain" for hedges, else "present"."""
    if _NEGATION.search(sentence):
        return "absent"
    if _UNCERTAIN.search(sentence):
        return "uncertain"
    return "present"


def assertion(sentence: str) -> str:
    """The assertion mark of one sentence (the search-quality module's when installed, else the stand-in)."""
    return local_assertion(sentence)
