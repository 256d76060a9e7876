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

    def loose_terms(self) -> set[str]:
        """The words a relaxed search needs any one of (the sides still all apply)."""
        return {t for v in self.variants for t in v} | {t for s in self.slots for t in s}

    def constraints(self) -> tuple[tuple[str, ...], ...]:
        return self.slots + self.sides

    def one_sided(self) -> "Clause | None":
        """This clause with each stated side kept to its own word ("left", not "bilateral"), or None when no side
        narrows: a text on the stated side answers "left pleural effusion" better than a bilateral one."""
        narrowed = tuple(tuple(t for t in side if t not in BOTH_SIDES) or side for side in self.sides)
        return None if narrowed == self.sides else replace(self, sides=narrowed)


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
