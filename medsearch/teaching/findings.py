"""What a sentence says of each finding it names, in the lexicon's vocabulary: present, absent or uncertain.

A finding is one of the lexicon's findings (its ``variants`` entries), named by any of its wordings
(``medsearch.lexical.query.concept_wordings``, so "enlarged heart" and "cardiac silhouette is enlarged" are both cardiomegaly) whose terms all occur in
one sentence with one assertion status (``medsearch.lexical.assertion``, the rules the index uses). A wording
inside a longer matched wording of the same sentence is not a finding of its own ("calcified" of "calcified
granuloma"); a wording narrower than its group's finding counts as that finding ("calcified granuloma" ->
granuloma, "pleural effusion" -> effusion, "subsegmental atelectasis" -> atelectasis), so that cases which word one
finding differently vote for the same thing. Status -> polarity: asserted and historical -> present, negated ->
absent, uncertain -> uncertain ("No pneumothorax." says pneumothorax is absent: it is no positive label).

Drafts vote with these statements (``medsearch.teaching.draft``); the draft benchmark labels texts with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

POLARITY = {"asserted": "present", "historical": "present", "negated": "absent", "uncertain": "uncertain"}
NORMAL = ("normal",)
NO_FINDING = "no finding"  # the label of a text that states no finding present


@dataclass(frozen=True, order=True)
class Statement:
    finding: str  # the finding's own wording, e.g. "cardiomegaly"
    polarity: str  # present | absent | uncertain


@lru_cache(maxsize=4096)
def finding_of(wording: tuple[str, ...]) -> str | None:
    """The finding a lexicon wording (as terms) names, or None when it is no wording of the lexicon."""
    from medsearch.lexical.query import concept_wordings

    entry = concept_wordings().get(wording)
    if entry is None:
        return None
    own = entry.same[0]
    up = entry.broader[0] if entry.broader else None
    if up is not None and set(up) < set(own):  # narrower than its group's finding: that finding
        return finding_of(up)
    return " ".join(own) if own in _findings() else None


@lru_cache(maxsize=1)
def _findings() -> frozenset[tuple[str, ...]]:
    """The lexicon's findings: its 'variants' entries (its abbreviations and lay terms also name anatomy, "RUL"),
    less its "normal" entry ("unremarkable": a normal statement, no finding)."""
    from medsearch.lexical.tokens import terms
    from medsearch.prompts import lexicon_data

    return frozenset(tuple(terms(finding)) for finding in lexicon_data().get("variants", {})) - {NORMAL}


@lru_cache(maxsize=1)
def _wordings() -> tuple[tuple[str, ...], ...]:
    from medsearch.lexical.query import concept_wordings

    return tuple(sorted((w for w in concept_wordings() if finding_of(w)), key=len, reverse=True))


@lru_cache(maxsize=20_000)
def sentence_statements(sentence: str) -> frozenset[Statement]:
    """The findings one sentence states, each with its polarity (empty when it names no known finding)."""
    from medsearch.lexical.assertion import analyse

    terms = [t for s in analyse(sentence) for t in s.terms]
    by_status: dict[str, set[str]] = {}
    for term in terms:
        by_status.setdefault(term.status, set()).add(term.term)
    found = set()
    for status, have in by_status.items():
        matched: list[tuple[str, ...]] = []
        for wording in _wordings():  # longest first: a wording inside a matched one is skipped
            if set(wording) <= have and not any(set(wording) < set(m) for m in matched):
                matched.append(wording)
        found.update(Statement(finding_of(w), POLARITY[status]) for w in matched)  # _wordings: each names one
    return frozenset(found)


def text_statements(sentences) -> frozenset[Statement]:
    return frozenset(st for sentence in sentences for st in sentence_statements(sentence))


def present_findings(sentences) -> set[str]:
    """Finding labels of a text (its sentences): the findings stated present; ``NO_FINDING`` when there is none.
    A negated or uncertain finding is not a label."""
    present = {st.finding for st in text_statements(sentences) if st.polarity == "present"}
    return present or {NO_FINDING}
