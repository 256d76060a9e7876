"""Sentence-level assertion, NegEx/ConText style: each clinical term of a text is asserted, negated, uncertain
or historical.

The triggers, pseudo-triggers and terminators live in one data file, ``medsearch/data/assertion_rules.json``
(see its ``_about``). A text is split into sentences; in each, trigger phrases are found on the clinical tokens
(longest phrase first, pseudo-triggers such as "no change" win ties and do nothing); a 'pre' trigger marks the
words after it up to the next trigger, terminator or the sentence's end, a 'post' trigger the words before it back
to the previous one. Where scopes overlap: negated > uncertain > historical. Findings joined by "or" that no
scope reaches are uncertain (the rules' 'alternatives': a differential, or a list whose "No" was lost), except in a
query (query_rules: the searcher's "or" asks for either). Trigger words themselves and stop words are not terms. medspacy/negspacy were not used: they pull spaCy 3.7 and pin numpy 1.26 (checked on PyPI),
which the rest of the package does not need.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from medsearch.lexical.abbreviations import expansions
from medsearch.lexical.tokens import STOPWORDS, Token, tokenize

RULES_PATH = Path(__file__).resolve().parent.parent / "data" / "assertion_rules.json"
STATUSES = ("asserted", "negated", "uncertain", "historical")
STRENGTH = {"negated": 3, "uncertain": 2, "historical": 1, "asserted": 0}
_CUE_WORDS = frozenset({"no", "not", "without", "nor", "neither"})  # never terms, even inside a pseudo-trigger
SENTENCE_CACHE = 20_000  # distinct sentences whose analysis is kept (see _default_terms)
_SENTENCE_END = re.compile(r"[.!?;:](?=\s|$)|\n+")


@dataclass(frozen=True)
class Term:
    term: str
    start: int  # span in the whole text
    end: int
    status: str


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    terms: tuple[Term, ...]

    def column(self, status: str) -> str:
        """This sentence's terms with ``status``, space-separated (what the full-text index stores)."""
        return " ".join(t.term for t in self.terms if t.status == status)


@dataclass(frozen=True)
class _Phrase:
    kind: str  # "trigger", "pseudo" or "terminator"
    status: str | None = None
    direction: str | None = None  # "pre" or "post"


class Rules:
    """Trigger phrases as tuples of clinical tokens -> what they do."""

    def __init__(self, data: dict):
        self.phrases: dict[tuple[str, ...], _Phrase] = {}
        for phrase in data.get("terminators", []):
            self._add(phrase, _Phrase("terminator"))
        for status in ("historical", "uncertain", "negated"):  # a phrase in two lists: the stronger wins
            for direction in ("pre", "post"):
                for phrase in data.get(status, {}).get(direction, []):
                    self._add(phrase, _Phrase("trigger", status, direction))
        for phrase in data.get("pseudo", []):
            self._add(phrase, _Phrase("pseudo"))
        self.longest = max((len(k) for k in self.phrases), default=0)
        self.first_words = {k[0] for k in self.phrases}
        alternatives = data.get("alternatives", {})
        self.alternative_words = frozenset(t.term for w in alternatives.get("words", [])
                                           for t in tokenize(w, keep_stopwords=True))
        self.alternative_status = alternatives.get("status", "uncertain")
        self.alternative_modifiers = frozenset(t.term for w in alternatives.get("modifiers", [])
                                               for t in tokenize(w, keep_stopwords=True))

    def _add(self, phrase: str, what: _Phrase) -> None:
        key = tuple(t.term for t in tokenize(phrase, keep_stopwords=True))
        if key:
            old = self.phrases.get(key)
            if old is not None and old.kind == "trigger" and what.kind == "trigger" and old.direction != what.direction:
                what = _Phrase("trigger", what.status, "both")
            self.phrases[key] = what

    def match(self, words: list[str], i: int) -> tuple[int, _Phrase] | None:
        if words[i] not in self.first_words:
            return None
        for n in range(min(self.longest, len(words) - i), 0, -1):
            found = self.phrases.get(tuple(words[i:i + n]))
            if found is not None:
                return n, found
        return None


def rules_data() -> dict:
    """The rules file (RULES_PATH), read and parsed once per process: the texts' and the queries' rules, and the
    analysis stamp's fingerprint of them (medsearch.lexical.stamp). Read it, never change it."""
    return _read_rules(RULES_PATH)


@lru_cache(maxsize=4)
def _read_rules(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return Rules(rules_data())


@lru_cache(maxsize=1)
def query_rules() -> Rules:
    """The default rules for a query: its "or" is the searcher's ("pneumothorax or effusion": either, asserted),
    not a report's alternatives (the 'alternatives' entry is left out)."""
    return Rules({key: value for key, value in rules_data().items() if key != "alternatives"})


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if text[start:match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _assert_sentence(tokens: list[Token], rules: Rules) -> list[Term]:
    words = [t.term for t in tokens]
    status = ["asserted"] * len(tokens)
    is_cue = [False] * len(tokens)
    events: list[tuple[int, int, _Phrase]] = []
    i = 0
    while i < len(words):
        found = rules.match(words, i)
        if found is None:
            i += 1
            continue
        n, what = found
        events.append((i, i + n, what))
        for j in range(i, i + n):
            is_cue[j] = what.kind != "pseudo"
        i += n

    def mark(lo: int, hi: int, value: str) -> None:
        for j in range(lo, hi):
            if not is_cue[j] and STRENGTH[value] > STRENGTH[status[j]]:
                status[j] = value

    boundaries = [(a, b) for a, b, what in events if what.kind != "pseudo"]
    for a, b, what in events:
        if what.kind != "trigger":
            continue
        if what.direction in ("pre", "both"):
            following = [s for s, _ in boundaries if s >= b]
            mark(b, following[0] if following else len(words), what.status)
        if what.direction in ("post", "both"):
            preceding = [e for _, e in boundaries if e <= a]
            mark(preceding[-1] if preceding else 0, a, what.status)
    for j, w in enumerate(words):
        if w in rules.alternative_words and _joins_findings(tokens, j, events, rules):
            # findings joined by "or" that no trigger's scope reaches, between the triggers or terminators
            # around it: alternatives, none of them asserted ("Atelectasis or scarring, no effusion.")
            lo = max((e for _, e in boundaries if e <= j), default=0)
            hi = min((s for s, _ in boundaries if s > j), default=len(words))
            for k in range(lo, hi):
                if status[k] == "asserted":
                    status[k] = rules.alternative_status
    return [Term(t.term, t.start, t.end, s) for t, s, cue in zip(tokens, status, is_cue)
            if not cue and t.term not in STOPWORDS and t.term not in _CUE_WORDS]


def _joins_findings(tokens: list[Token], j: int, events: list[tuple[int, int, _Phrase]], rules: Rules) -> bool:
    """Whether the alternative word ("or") at ``j`` joins findings. Not when it is part of a phrase ("with or
    without"), joins two modifiers ("right or left", "4th or 5th", "mild or moderate": the finding they modify is
    asserted), or follows a pseudo-trigger with a negation word in the same scope ("no change in the effusion or
    the atelectasis" says neither changed: both are there)."""
    for a, b, what in events:
        if a <= j < b:
            return False
        if what.kind == "pseudo" and b <= j and any(w in _CUE_WORDS for w in (t.term for t in tokens[a:b])) \
                and not any(b <= c < j for c, _, other in events if other.kind != "pseudo"):
            return False
    joiners = rules.alternative_words | {"and"}  # "right and/or left": and, or, andor
    before = [t.term for t in tokens[:j] if t.term not in joiners and t.end <= tokens[j].start]
    after = [t.term for t in tokens[j + 1:] if t.start >= tokens[j].end]

    def modifier(word: str) -> bool:
        return word in rules.alternative_modifiers or any(c.isdigit() for c in word)

    return not (before and after and modifier(before[-1]) and modifier(after[0]))


def analyse(text: str, rules: Rules | None = None, keep=None) -> list[Sentence]:
    """The text's sentences, each with its clinical terms and their assertion status (``keep``: a test on a
    sentence's lower-case text; sentences failing it are skipped). A short form of the lexicon that the text
    defines as something else ("pericardial effusion (PE)") is read as the text means it
    (medsearch.lexical.abbreviations)."""
    text = text or ""
    defined = expansions(text)
    if keep is not None and defined:  # a sentence may say the long form through its short form
        keep = _or_through(keep, defined)
    out = []
    for start, end in sentence_spans(text):
        if keep is not None and not keep(text[start:end].lower()):
            continue
        if rules is None:  # the default rules: the same sentence (reports repeat many) is analysed once
            terms = tuple(Term(t.term, t.start + start, t.end + start, t.status) for t in _default_terms(text[start:end]))
        else:
            terms = tuple(_assert_sentence(tokenize(text[start:end], keep_stopwords=True), rules))
            terms = tuple(Term(t.term, t.start + start, t.end + start, t.status) for t in terms)
        if defined:
            terms = _read_short_forms(terms, defined)
        if terms:
            out.append(Sentence(start, end, terms))
    return out


def _read_short_forms(terms: tuple[Term, ...], defined: dict) -> tuple[Term, ...]:
    """Each use of a short form in ``defined`` (``abbreviations.expansions``) becomes its long form's terms (same
    span, same status); the short form where the text defines it is dropped (its long form is right there)."""
    out: list[Term] = []
    for term in terms:
        expansion = defined.get(term.term)
        if expansion is None:
            out.append(term)
        elif not any(a <= term.start and term.end <= b for a, b in expansion.defined_at):
            out += [Term(t, term.start, term.end, term.status) for t in expansion.terms]
    return tuple(out)


def _or_through(keep, defined: dict):
    """``keep``, or a sentence holding a short form whose long form ``keep`` takes."""
    taken = [re.compile(rf"\b{re.escape(short)}\b") for short, e in defined.items() if keep(" ".join(e.terms))]
    if not taken:
        return keep
    return lambda sentence: keep(sentence) or any(p.search(sentence) for p in taken)


@lru_cache(maxsize=SENTENCE_CACHE)
def _default_terms(sentence: str) -> tuple[Term, ...]:
    """One sentence's terms under the default rules, spans relative to the sentence (cached: search
    explanations analyse the same report sentences query after query)."""
    return tuple(_assert_sentence(tokenize(sentence, keep_stopwords=True), default_rules()))

