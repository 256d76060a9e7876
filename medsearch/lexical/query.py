"""A text query -> clauses for the full-text index, and the check of a text against them in Python.

The query is normalised and expanded with the clinical lexicon (medsearch.prompts), then analysed like any
text (medsearch.lexical.assertion), so "no pneumothorax", "without effusion" and "pneumothorax excluded" carry
the status negated and "possible pneumonia" uncertain. Known findings (the lexicon's phrases and its
``variants``) become one clause each, with their alternative wordings ("cardiomegaly" also matches "enlarged
heart" and "cardiac enlargement"); the other words attach to the nearest finding as modifiers that must occur in
the same sentence ("left pleural effusion": "left" or "bilateral" beside a pleural effusion). A query with no
known finding is one clause of all its words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache

from medsearch.lexical.assertion import Sentence, Term, analyse
from medsearch.lexical.tokens import terms as text_terms

STATUS_COLUMNS = {"asserted": ("asserted", "historical"), "negated": ("negated",), "uncertain": ("uncertain",),
                  "historical": ("historical",)}
# a side stated in the query is a constraint; a bilateral finding satisfies either side
LATERALITY = {
    "left": ("left", "bilateral", "bilaterally", "both", "bibasilar", "bibasal"),
    "right": ("right", "bilateral", "bilaterally", "both", "bibasilar", "bibasal"),
    "bilateral": ("bilateral", "bilaterally", "both", "bibasilar", "bibasal"),
}
BOTH_SIDES = frozenset(LATERALITY["bilateral"])


# How an image was made, not what it shows: left out of the lexical clauses when the query also names a finding
# ("CT pulmonary angiogram showing pulmonary embolism" must find the embolism, not every CT caption; the dense
# side and --modality carry the modality). A query of modality words alone still searches them.
MODALITY_TERMS = frozenset(
    "ct computed tomography tomographic cta ctpa mri mr magnetic resonance imaging mra image imaging scan scans "
    "xray x ray radiograph radiography radiographic plain film films cxr ultrasound ultrasonography "
    "sonography sonographic us doppler angiogram angiography angiographic arteriogram venogram fluoroscopy "
    "pet nuclear scintigraphy mammogram mammography echocardiography echocardiogram view axial coronal sagittal "
    "contrast enhanced weighted t1 t2 flair dwi".split())


@dataclass(frozen=True)
class Clause:
    status: str  # the status the query gives this finding
    variants: tuple[tuple[str, ...], ...]  # alternative wordings; each: terms that must all be in one sentence
    slots: tuple[tuple[str, ...], ...] = ()  # modifiers: one of each slot's terms in the same sentence
    label: str = ""  # the finding as the query named it
    sides: tuple[tuple[str, ...], ...] = ()  # laterality: like slots, but kept even when a search relaxes

    def all_terms(self) -> set[str]:
        return {t for v in self.variants for t in v} | {t for s in self.slots + self.sides for t in s}

    def constraints(self) -> tuple[tuple[str, ...], ...]:
        return self.slots + self.sides

    def one_sided(self) -> "Clause | None":
        """This clause with each stated side kept to its own word ("left", not "bilateral"), or None when no side
        narrows: a text on the stated side answers "left pleural effusion" better than a bilateral one."""
        narrowed = tuple(tuple(t for t in side if t not in BOTH_SIDES) or side for side in self.sides)
        return None if narrowed == self.sides else replace(self, sides=narrowed)


# --- the relaxed match: most of what a clause says, weighed by information --------------------------------

# When fewer than k texts match a query whole, the lexical ranking falls back to a relaxed match of each clause
# (medsearch.query.fusion.lexical_ranking). A relaxed match must hold, in one sentence and on the clause's stated
# sides, MORE than RELAXED_SHARE of one wording of the clause: a weighted minimum_should_match (Elasticsearch,
# Lucene BooleanQuery). The finding's wording is one unit and each modifier slot another, each weighing its BM25
# inverse document frequency in the full-text index (the wording's: all its words in one sentence); part of a
# wording earns the share of its weight that its words' own IDFs make up. As in Lucene's CommonTermsQuery
# (cutoff_frequency), a word of the finding in at most RARE of the sentences is specific enough to match alone
# (a modifier alone never is: "head" of "pancreatic head"). So a generic word ("tumor" of "brain tumor" where
# "brain" is the rarer, "lesion" of "liver lesion", "normal", "small") or a common finding without the organ the
# query names no longer matches, while the informative part alone ("liver", "eventration") still does; of three
# units of similar weight any two do. Matches are ranked by BM25 over all the clause's words. A denial is relaxed
# to any of its words (see relaxed_alternatives).
RELAXED_SHARE = 0.5
RARE = 0.01  # the Elasticsearch guide's example cutoff_frequency
RELAXED_UNITS = 8  # words + slots per wording weighed at most (the heaviest); past that 2^n alternatives


def relaxation_units(clause: Clause) -> list[Clause]:
    """What a relaxed match of ``clause`` weighs, each as a clause of its own: its terms (relaxed_terms) and each
    of its wordings of several words (in one sentence). An empty list for a denial, which is not weighed
    (relaxed_alternatives)."""
    if clause.status == "negated":
        return []
    return relaxed_terms(clause) + [Clause(status=clause.status, variants=(v,))
                                    for v in clause.variants if len(set(v)) > 1]


def relaxed_terms(clause: Clause) -> list[Clause]:
    """Every word of the clause's wordings (in the columns of its status, like the finding) and every modifier
    slot (any column), each as a clause of its own: a relaxed match is ranked by all of them (BM25 over the
    clause). Sides are no unit: they always apply."""
    words = dict.fromkeys(t for v in clause.variants for t in v)
    return ([Clause(status=clause.status, variants=((t,),)) for t in words]
            + [_slot_unit(slot) for slot in clause.slots])


def _slot_unit(slot: tuple[str, ...]) -> Clause:
    return Clause(status="any", variants=tuple((t,) for t in slot))


def _any_word(clause: Clause) -> Clause:
    """Any word of the clause, in the columns of its status, on its sides."""
    words = sorted({t for v in clause.variants for t in v} | {t for s in clause.slots for t in s})
    return Clause(status=clause.status, variants=tuple((t,) for t in words), label=clause.label, sides=clause.sides)


def idf(matching: int, total: int) -> float:
    """BM25's inverse document frequency of a unit matched by ``matching`` of ``total`` sentences (always > 0:
    the store counts ``total`` once per state of the database, so a count made just after another process wrote
    may exceed it)."""
    import math

    total = max(total, matching)
    return math.log(1.0 + (total - matching + 0.5) / (matching + 0.5))


def relaxed_alternatives(clause: Clause, counts: dict[Clause, int], total: int, share: float = RELAXED_SHARE,
                         rare_share: float = RARE) -> list[Clause]:
    """The minimal ways to hold more than ``share`` of one wording of ``clause`` (``counts``: each unit of
    relaxation_units -> the number of sentences matching it, of ``total``), each a clause to match within one
    sentence (its ``variants`` empty when it holds modifiers only), the clause's sides kept; a relaxed match
    matches any of them. A word no text holds cannot be held: its wording yields nothing, unless no wording of
    the clause has all its words in the texts ("surgical instruments" where reports say "surgical clips"), and
    then it is left out of the weighing. A modifier no text holds is always left out of it (it is every wording's:
    it must not let a wording with a missing word in, "mass" of "intracranial mass" for "parasagittal brain
    tumor")."""
    from itertools import combinations

    if clause.status == "negated":
        # a text that denies part of what the query denies cannot contradict it (the assertion tiers rank a text
        # asserting the finding below), and without such texts a finding rarely denied in words would leave a
        # negated query to the dense hits, which ignore negation: any word of it, denied, will do
        return [_any_word(clause)]

    def word(t):
        return Clause(status=clause.status, variants=((t,),))

    def in_the_texts(variant):
        return all(counts[word(t)] for t in variant)

    slots = {s: idf(counts[_slot_unit(s)], total) for s in clause.slots if counts[_slot_unit(s)]}
    found: list[tuple[frozenset, frozenset]] = []  # (words, slots) of each minimal alternative
    for variant in [v for v in clause.variants if in_the_texts(v)] or clause.variants:
        words = {t: idf(counts[word(t)], total) for t in dict.fromkeys(variant) if counts[word(t)]}
        if not words and not slots:
            continue
        whole = sum(words.values())
        if len(words) > 1 and len(words) == len(set(variant)):  # the wording weighs as one unit: all its words
            whole = idf(counts[Clause(status=clause.status, variants=(variant,))], total)  # in one sentence
        # each word earns the wording's weight in proportion to its own
        units = [("word", t, whole * w / sum(words.values())) for t, w in words.items()]
        units += [("slot", s, w) for s, w in slots.items()]
        units = sorted(units, key=lambda u: -u[2])[:RELAXED_UNITS]
        weight = sum(w for _, _, w in units)
        rare = {t for t in words if counts[word(t)] <= rare_share * total}  # a finding's word, never a modifier
        for size in range(1, len(units) + 1):
            for subset in combinations(units, size):
                if sum(w for _, _, w in subset) <= share * weight and not (size == 1 and subset[0][1] in rare):
                    continue
                held = (frozenset(t for kind, t, _ in subset if kind == "word"),
                        frozenset(s for kind, s, _ in subset if kind == "slot"))
                if not any(w <= held[0] and s <= held[1] for w, s in found):  # minimal: nothing smaller suffices
                    found.append(held)
    # an alternative of one wording may contain another's (both hold "brain"): the smaller one already matches
    minimal = [(w, s) for w, s in found if not any((w2, s2) != (w, s) and w2 <= w and s2 <= s for w2, s2 in found)]
    return [Clause(status=clause.status, variants=(tuple(sorted(words)),) if words else (),
                   slots=tuple(s for s in clause.slots if s in held_slots), label=clause.label, sides=clause.sides)
            for words, held_slots in minimal]


@dataclass
class LexicalQuery:
    text: str  # what was analysed (normalised, expanded)
    clauses: list[Clause] = field(default_factory=list)

    @property
    def negated(self) -> bool:
        return any(c.status == "negated" for c in self.clauses)


@lru_cache(maxsize=1)
def concept_variants() -> dict[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Finding (as terms) -> its alternative wordings (as terms), from the lexicon's phrases and variants."""
    from medsearch.prompts import LEXICON_PATH

    data = json.loads(LEXICON_PATH.read_text("utf-8"))
    groups: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for section in ("abbreviations", "lay_terms"):
        for term, phrase in data.get(section, {}).items():
            key = tuple(text_terms(phrase))
            if key:
                groups.setdefault(key, set()).add(key)
                if section == "abbreviations" and text_terms(term):  # texts write "CT" as often as the phrase
                    groups[key].add(tuple(text_terms(term)))
    for concept, wordings in data.get("variants", {}).items():
        key = tuple(text_terms(concept))
        group = groups.setdefault(key, set())
        group.add(key)
        group.update(tuple(text_terms(w)) for w in wordings if text_terms(w))
    table: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}
    for key, group in groups.items():
        ordered = tuple(sorted(group, key=lambda g: (g != key, len(g), g)))
        for wording in group:  # any wording of a finding names the whole group
            table.setdefault(wording, ordered)
    return table


def _find_concepts(words: list[str]) -> list[tuple[int, int]]:
    table = concept_variants()
    longest = max((len(k) for k in table), default=0)
    spans, i = [], 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            if tuple(words[i:i + n]) in table:
                spans.append((i, i + n))
                i += n
                break
        else:
            i += 1
    return spans


def _status_of(terms: list[Term]) -> str:
    for status in ("negated", "uncertain", "historical"):
        if any(t.status == status for t in terms):
            return status
    return "asserted"


def parse(query: str, expand: bool = True) -> LexicalQuery:
    from medsearch.prompts import prepare_query

    text = prepare_query(query, expand=expand)
    terms = [t for s in analyse(text) for t in s.terms]
    words = [t.term for t in terms]
    spans = _find_concepts(words)
    covered = {i for a, b in spans for i in range(a, b)}
    side = [i for i, w in enumerate(words) if w in LATERALITY and i not in covered]
    loose = [i for i in range(len(words)) if i not in covered and i not in side]
    if not spans:
        if not loose:  # only a side: search for the side itself
            loose, side = side, []
        spans = [(min(loose), max(loose) + 1)] if loose else []
        concept_terms = {spans[0]: tuple(dict.fromkeys(words[i] for i in loose))} if spans else {}
        loose = []
    else:
        concept_terms = {}
    attached: dict[tuple[int, int], list[tuple[str, ...]]] = {span: [] for span in spans}
    sides: dict[tuple[int, int], list[tuple[str, ...]]] = {span: [] for span in spans}
    for i in loose + side:  # each modifier to the nearest finding, the following one on a tie
        span = min(spans, key=lambda s: (min(abs(i - s[0]), abs(i - (s[1] - 1))), s[0] < i))
        if i in side:
            sides[span].append(LATERALITY[words[i]])
        else:
            attached[span].append((words[i],))
    clauses = []
    for span in spans:
        key = concept_terms.get(span) or tuple(words[span[0]:span[1]])
        variants = concept_variants().get(key, (key,))
        clauses.append(Clause(status=_status_of(terms[span[0]:span[1]]), variants=variants,
                              slots=tuple(dict.fromkeys(attached[span])), label=" ".join(key),
                              sides=tuple(dict.fromkeys(sides[span]))))
    return LexicalQuery(text=text, clauses=_without_modality(clauses))


def _is_modality(terms) -> bool:
    return bool(terms) and set(terms) <= MODALITY_TERMS


def _without_modality(clauses: list[Clause]) -> list[Clause]:
    """Modality clauses and modifiers dropped when something else is asked for."""
    kept = [c for c in clauses if not _is_modality(c.variants[0])]
    if not kept:
        return clauses
    return [Clause(status=c.status, variants=c.variants, label=c.label, sides=c.sides,
                   slots=tuple(s for s in c.slots if not _is_modality(s))) for c in kept]


# --- checking a text in Python (reranking and explanations) -----------------------------------------

@dataclass
class ClauseMatch:
    statuses: set[str]  # every status the finding has in the text
    terms: list[Term]  # the matching terms, for highlighting


def match_clause(clause: Clause, sentences: list[Sentence]) -> ClauseMatch:
    found = ClauseMatch(set(), [])
    for sentence in sentences:
        for status in ("asserted", "negated", "uncertain", "historical"):
            have = {t.term for t in sentence.terms if t.status == status}
            for variant in clause.variants:
                if set(variant) <= have and all(any(t.term in slot for t in sentence.terms)
                                                for slot in clause.constraints()):
                    found.statuses.add(status)
                    wanted = set(variant) | {w for slot in clause.constraints() for w in slot}
                    found.terms += [t for t in sentence.terms if t.term in wanted
                                    and (t.term not in variant or t.status == status)]
                    break
    return found


# The text's status for a finding -> how well it answers a clause of the query's status (0 best, 2 contradicts).
# A text that does not mention the finding is "absent": fine for a negated query, neutral for a positive one.
TIERS = {
    "asserted": {"asserted": 0, "historical": 0, "absent": 0, "uncertain": 1, "negated": 2},
    "negated": {"negated": 0, "absent": 0, "uncertain": 1, "historical": 1, "asserted": 2},
    "uncertain": {"uncertain": 0, "asserted": 1, "historical": 1, "absent": 1, "negated": 2},
    "historical": {"historical": 0, "asserted": 1, "absent": 1, "uncertain": 1, "negated": 2},
    "any": {"asserted": 0, "negated": 0, "uncertain": 0, "historical": 0, "absent": 0},  # assertion ignored
}
# which of a text's statuses decides, by the query's status (the first one present)
PRECEDENCE = {
    "asserted": ("asserted", "historical", "uncertain", "negated"),
    "negated": ("asserted", "negated", "uncertain", "historical"),
    "uncertain": ("uncertain", "asserted", "historical", "negated"),
    "historical": ("historical", "asserted", "uncertain", "negated"),
    "any": ("asserted", "negated", "uncertain", "historical"),
}


def decide(clause: Clause, match: ClauseMatch) -> str:
    """The text's status for the clause's finding: asserted, negated, uncertain, historical or absent."""
    return next((s for s in PRECEDENCE[clause.status] if s in match.statuses), "absent")


def tier(clause: Clause, decision: str) -> int:
    return TIERS[clause.status][decision]
