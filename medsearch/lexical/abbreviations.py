"""The short forms a text defines for itself that the query lexicon would misread, read as the text means them.

The lexicon's abbreviations are also wordings of their findings in texts ("PE" of pulmonary embolism, "MI" of
myocardial infarction), but a text may define the short form as something else: "pericardial effusion (PE)",
"PE: pericardial effusion", "prediction error (PE)". Read as written, every such "PE" answered a search for a
pulmonary embolism. Where a text defines one of the lexicon's short forms with a long form that is not the
lexicon's (no word in common, by its first five letters), each use of it in that text is read as the long form
(the long form's words take the short form's place, with its span and assertion status) and the short form where
it is defined is dropped (its long form is right there). Any other short form stays as written, so a search for
"MIP" still finds "Maximum Intensity Projection (MIP)".

Definitions are found the way Schwartz & Hearst (2003, "A simple algorithm for identifying abbreviation
definitions in biomedical text") find them: a short form in parentheses after its long form, or a long form in
parentheses after its short form; a short form's letters must appear in order in the long form, its first letter
starting a word, and the long form is the shortest such span. Legends ("LV: left ventricle, PE: pericardial
effusion") are a third pattern, where the initials of the long form's words must spell the short form.

What this makes of a text depends on the lexicon's abbreviations section, which the full-text analysis stamp
therefore fingerprints (medsearch.lexical.stamp).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from medsearch.lexical.tokens import tokenize

# a short form: 2-10 characters, a letter first, no space, and written as an abbreviation: two capitals at least
# ("PE", "MDCTA", "T2W", "CABG"; not "arrow", "Fig")
_SHORT = r"[A-Za-z][A-Za-z0-9\-/]{1,9}"
_PAREN = re.compile(r"\(([^()]{1,120})\)")
_LEGEND = re.compile(rf"(?<![\w-])({_SHORT})\s*[:=]\s*([A-Za-z][A-Za-z\- ]{{1,60}}?)(?=\s*(?:[,;.)]|$|\s[A-Z]{{2}}))")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-']*")
_LEAD_IN = frozenset({"a", "an", "the", "of", "and", "or", "with", "in", "on", "to", "by", "for"})
MAX_DEFINED_TEXT = 20_000  # characters of a text searched for definitions (longer texts: the first part)


def _is_short_form(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    capitals = sum(c.isupper() for c in letters)
    return re.fullmatch(_SHORT, word) is not None and capitals >= 2


def best_long_form(short: str, candidate: str) -> str | None:
    """The shortest end of ``candidate`` that the Schwartz-Hearst rule accepts as the long form of ``short``, or
    None: every letter and digit of ``short`` in order, the first at the start of a word."""
    s, text = short.lower(), candidate.lower()
    si, li = len(s) - 1, len(text) - 1
    while si >= 0:
        c = s[si]
        if not c.isalnum():
            si -= 1
            continue
        while li >= 0 and (text[li] != c or (si == 0 and li > 0 and text[li - 1].isalnum())):
            li -= 1
        if li < 0:
            return None
        li -= 1
        si -= 1
    long_form = candidate[li + 1:].strip()
    words = long_form.split()
    if not words or len(long_form) <= len(short) or len(words) > min(len(short) + 5, 2 * len(short)):
        return None
    return long_form


def _initials_spell(short: str, long_form: str) -> bool:
    """A legend's long form: the first letters of its words (articles and the like may be skipped) spell the short
    form ("left ventricle" LV, "pericardial effusion" PE), so a legend's "CT: chest" defines nothing."""
    letters = [c for c in short.lower() if c.isalpha()]
    words = [w.lower() for w in long_form.split()]
    content = [w for w in words if w not in _LEAD_IN]
    return [w[0] for w in words] == letters or [w[0] for w in content] == letters


def _words_before(text: str, end: int, limit: int) -> str:
    """Up to ``limit`` words of ``text`` ending at ``end``, within its sentence."""
    start = max(text.rfind(mark, 0, end) for mark in (". ", "; ", "\n", "(", ")"))
    words = list(_WORD.finditer(text, start + 1 if start >= 0 else 0, end))[-limit:]
    return text[words[0].start():end] if words else ""


@lru_cache(maxsize=4096)
def definitions(text: str) -> tuple[tuple[str, str, tuple[tuple[int, int], ...]], ...]:
    """(short form, long form, the spans where the text defines it) for each short form the text defines (its
    first definition wins), in order of first definition."""
    text = (text or "")[:MAX_DEFINED_TEXT]
    if "(" not in text and ":" not in text and "=" not in text:
        return ()
    found: dict[str, tuple[str, str, list[tuple[int, int]]]] = {}

    def add(short: str, long_form: str | None, span: tuple[int, int]) -> None:
        if long_form is None:
            return
        key = short.lower()
        if key not in found:
            found[key] = (short, long_form, [])
        if found[key][1].lower() == long_form.lower():
            found[key][2].append(span)

    for match in _PAREN.finditer(text):
        inside = match.group(1).strip()
        first = re.split(r"[,;]", inside)[0].strip()
        if _is_short_form(first) and len(first.split()) == 1:  # "long form (SF)"
            before = _words_before(text, match.start(), min(len(first) + 5, 2 * len(first)))
            add(first, best_long_form(first, before), (match.start(), match.end()))
            continue
        previous = list(_WORD.finditer(text, max(0, match.start() - 12), match.start()))
        if previous and _is_short_form(previous[-1].group(0)) and len(inside.split()) >= 2:  # "SF (long form)"
            short = previous[-1].group(0)
            add(short, best_long_form(short, inside), (previous[-1].start(), match.end()))
    for match in _LEGEND.finditer(text):
        short, long_form = match.group(1), match.group(2).strip()
        if _is_short_form(short) and _initials_spell(short, long_form):
            add(short, long_form, (match.start(), match.end()))
    return tuple((short, long_form, tuple(spans)) for short, long_form, spans in found.values())


@dataclass(frozen=True)
class Expansion:
    """What a short form the text defines is read as: its long form's index terms, except where it is defined."""
    terms: tuple[str, ...]
    defined_at: tuple[tuple[int, int], ...]  # the definitions' spans: the short form there is not a use of it


def expansions(text: str) -> dict[str, Expansion]:
    """Index term of each of the lexicon's short forms that the text defines otherwise -> its Expansion."""
    out: dict[str, Expansion] = {}
    for short, long_form, spans in definitions(text):
        short_terms = [t.term for t in tokenize(short)]
        long_terms = tuple(dict.fromkeys(t.term for t in tokenize(long_form)))
        lexicon = lexicon_short_forms().get(short_terms[0]) if len(short_terms) == 1 else None
        if lexicon is not None and long_terms and not same_meaning(long_terms, lexicon):
            out[short_terms[0]] = Expansion(long_terms, spans)
    return out


@lru_cache(maxsize=1)
def lexicon_short_forms() -> dict[str, tuple[str, ...]]:
    """The lexicon's one-word short forms (index term) -> the index terms of what it reads them as."""
    from medsearch.prompts import lexicon_data

    out = {}
    for short, phrase in lexicon_data().get("abbreviations", {}).items():
        terms = [t.term for t in tokenize(short)]
        if len(terms) == 1:
            out[terms[0]] = tuple(t.term for t in tokenize(phrase))
    return out


def same_meaning(long_terms, lexicon_terms) -> bool:
    """A word in common by its first five letters ("pulmonary embolus" and "pulmonary embolism"; not "pericardial
    effusion")."""
    return bool({w[:5] for w in long_terms if len(w) > 3} & {w[:5] for w in lexicon_terms if len(w) > 3})
