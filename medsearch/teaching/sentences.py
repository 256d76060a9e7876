"""Sentences of a report or case text, kept verbatim (a draft never rewrites what a source says), and the
assertion mark of each, from the NegEx/ConText rules of ``medsearch.lexical.assertion``:

"asserted"; "negated" when every clinical term is negated ("No pleural effusion."); "partly negated" when some
are ("Mass in the RUL without effusion."); "uncertain" ("may represent infection"); "historical".
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? followed by space and an upper-case letter or digit, or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])|\n+")
_WORD = re.compile(r"[a-z0-9]+")
MIN_WORDS = 2
STOP_WORDS = frozenset("a an and are as at be by for from in is it of on or the this to was were with".split())


def split_sentences(text: str | None, min_words: int = MIN_WORDS) -> list[str]:
    """Verbatim sentences (each a substring of ``text``; a leading bullet is dropped), with at least ``min_words``
    words."""
    if not text:
        return []
    pieces = [piece.strip().lstrip("•·*-– \t").strip() for piece in _BOUNDARY.split(text)]
    return [p for p in pieces if len(_WORD.findall(p.lower())) >= min_words]


def words(sentence: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(sentence.lower()) if w not in STOP_WORDS)


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def assertion(sentence: str) -> str:
    """The assertion mark of one sentence (see the module doc)."""
    return assertion_and_negated(sentence)[0]


def assertion_and_negated(sentence: str) -> tuple[str, list[str]]:
    """(mark, negated terms) of one sentence."""
    from medsearch.lexical.assertion import analyse

    found = [t for s in analyse(sentence) for t in s.terms]
    statuses = {t.status for t in found}
    negated = [t.term for t in found if t.status == "negated"]
    if not found or statuses == {"asserted"}:
        return "asserted", negated
    if statuses == {"negated"}:
        return "negated", negated
    if "negated" in statuses:
        return "partly negated", negated
    if "uncertain" in statuses:
        return "uncertain", negated
    if statuses == {"historical"}:
        return "historical", negated
    return "asserted", negated
