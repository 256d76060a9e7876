"""Why a text matched: the query terms found in it, a short snippet around them and where to highlight."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache

from medsearch.lexical.assertion import Sentence, analyse
from medsearch.lexical.query import BOTH_SIDES, Clause, decide, match_clause
from medsearch.lexical.tokens import normalise

SNIPPET_CHARS = 160


@dataclass
class Explanation:
    matched_terms: list[str] = field(default_factory=list)
    snippet: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in the snippet
    assertion: dict[str, str] = field(default_factory=dict)  # finding -> asserted/negated/uncertain/historical/absent


def explain(text: str | None, clauses: list[Clause], sentences: list[Sentence] | None = None) -> Explanation:
    text = text or ""
    wanted = set().union(*(c.all_terms() for c in clauses)) if clauses else set()
    if sentences is None:  # only the sentences that may hold a term the clauses read (a stem test, then the real one)
        held_by = frozenset().union(*(c.read_stems for c in clauses))

        def may_hold(sentence: str) -> bool:
            normal = normalise(sentence)
            return any(s in normal for s in held_by)

        sentences = analyse(text, keep=may_hold)
    out = Explanation()
    spans: list[tuple[int, int]] = []
    for clause in clauses:
        match = match_clause(clause, sentences)
        out.assertion[clause.label] = decide(clause, match)
        if out.assertion[clause.label] == "absent" and clause.constraints():
            out.assertion[clause.label] = _without_constraints(clause, sentences)
        spans += [(t.start, t.end) for t in match.terms]
        out.matched_terms += [t.term for t in match.terms]
    if not spans:  # no clause matched: show the query's words wherever they occur
        found = [t for s in sentences for t in s.terms if t.term in wanted]
        spans = [(t.start, t.end) for t in found]
        out.matched_terms = [t.term for t in found]
    out.matched_terms = list(dict.fromkeys(out.matched_terms))
    spans = sorted(set(spans))
    if not spans:
        first = text.strip().splitlines()[0] if text.strip() else ""
        out.snippet = first[:SNIPPET_CHARS] + ("…" if len(first) > SNIPPET_CHARS else "")
        return out
    # the sentence with the most highlighted words, cut to SNIPPET_CHARS around its first one
    best = max(sentences, key=lambda s: (sum(s.start <= a < s.end for a, _ in spans), -s.start))
    lo, hi = best.start, best.end
    inside = [(a, b) for a, b in spans if lo <= a < hi] or spans[:1]
    if hi - lo > SNIPPET_CHARS:
        first = inside[0][0]
        lo = _word_start(text, max(lo, first - SNIPPET_CHARS // 4), first)
        hi = _word_end(text, min(hi, lo + SNIPPET_CHARS), max(lo, first))
    raw = text[lo:hi]
    strip = len(raw) - len(raw.lstrip())
    out.snippet = raw.strip()
    out.highlights = [(a - lo - strip, b - lo - strip) for a, b in inside if a >= lo and b <= hi]
    return out


# how an explanation names the side a text gives a finding (medsearch.lexical.query.LATERALITY's words)
SIDE_NAMES = {"left": "the left", "right": "the right", **{w: "both sides" for w in BOTH_SIDES}}


def _without_constraints(clause: Clause, sentences: list[Sentence]) -> str:
    """The finding's status in a text that does not have it with all of the query's modifiers (the ranking's
    decision there is "absent"). Without the modifiers ("left sided pleural effusion" for "small left pleural
    effusion") the label still names the finding: its own status. Not on the side the query states, it is that
    status where the text has it ("asserted on the right" for "no left pleural effusion": the ranking reads it as
    no contradiction, nor as an answer to "left pleural effusion"), or "..., side not stated"."""
    unmodified, bare = _loosened(clause)
    status = decide(clause, match_clause(unmodified, sentences))
    if status != "absent" or not clause.sides:
        return status
    match = match_clause(bare, sentences)
    status = decide(bare, match)
    if status == "absent":
        return status
    held = [s for s in sentences if any(s.start <= t.start < s.end and t.status == status for t in match.terms)]
    sides = list(dict.fromkeys(SIDE_NAMES[t.term] for s in held for t in s.terms if t.term in SIDE_NAMES))
    return f"{status} on {' and '.join(sides)}" if sides else f"{status}, side not stated"


@lru_cache(maxsize=256)
def _loosened(clause: Clause) -> tuple[Clause, Clause]:
    """``clause`` without its modifiers, and without its modifiers and sides: made once per clause, not once per hit
    (each keeps what it derives, Clause.readings_by_status)."""
    return dataclasses.replace(clause, slots=()), dataclasses.replace(clause, slots=(), sides=())


def _word_start(text: str, at: int, limit: int) -> int:
    """``at``, or the start of the next word when ``at`` falls inside one (never past ``limit``): a snippet cut
    out of a long sentence starts on a word, not on "s reveals bilateral hemothorax"."""
    if at == 0 or not (text[at - 1].isalnum() and at < len(text) and text[at].isalnum()):
        return at
    space = next((i for i in range(at, limit) if text[i].isspace()), None)
    return at if space is None else space + 1


def _word_end(text: str, at: int, limit: int) -> int:
    """``at``, or the end of the last whole word before it when ``at`` falls inside one (never before ``limit``)."""
    if at >= len(text) or not (text[at - 1].isalnum() and text[at].isalnum()):
        return at
    space = next((i for i in range(at - 1, limit, -1) if text[i].isspace()), None)
    return at if space is None else space


def marked(snippet: str, highlights, before: str = "[", after: str = "]") -> str:
    """The snippet with each highlight wrapped (e.g. in rich markup or HTML by the caller's choice)."""
    out, last = [], 0
    for a, b in sorted(highlights):
        if a < last:
            continue
        out += [snippet[last:a], before, snippet[a:b], after]
        last = b
    out.append(snippet[last:])
    return "".join(out)
