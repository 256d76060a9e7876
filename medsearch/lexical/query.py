"""A text query -> clauses for the full-text index, and the check of a text against them in Python.

The query is normalised and expanded with the clinical lexicon (medsearch.prompts), then analysed like any
text (medsearch.lexical.assertion), so "no pneumothorax", "without effusion" and "pneumothorax excluded" carry
the status negated and "possible pneumonia" uncertain. Known findings (the lexicon's phrases and its
``variants``) become one clause each, with their alternative wordings ("cardiomegaly" also matches "enlarged
heart" and "cardiac enlargement"; a specific finding is not answered by a broader wording of its group, so
"lung nodule" does not match a bare "nodule"); the other words attach to the nearest finding as modifiers that
must occur in the same sentence ("left pleural effusion": "left" or "bilateral" beside a pleural effusion). A
query with no known finding is one clause of all its words.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

from medsearch.lexical.assertion import STATUSES, Sentence, Term, analyse, query_rules
from medsearch.lexical.tokens import stems
from medsearch.lexical.tokens import terms as text_terms

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
class Broader:
    """A wording more general than a clause's finding, read for it only where it names the finding: as a phrase
    (its words side by side among a sentence's terms of one status) in a sentence whose terms of that status hold
    none of ``unless``, the lexicon's other wordings that contain it ("pericardial effusion" for "effusion", "mass
    effect" for "mass"): there it is part of another finding, not the one asked for."""
    wording: tuple[str, ...]
    unless: tuple[tuple[str, ...], ...] = ()

    def found_in(self, words: list[str]) -> bool:
        """Whether a sentence whose terms of one status are ``words`` (in order) names the finding by it."""
        return _phrase_in(self.wording, words) and not any(_phrase_in(u, words) for u in self.unless)


def _phrase_in(phrase: tuple[str, ...], words: list[str]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))


@dataclass(frozen=True)
class Clause:
    status: str  # the status the query gives this finding
    variants: tuple[tuple[str, ...], ...]  # alternative wordings; each: terms that must all be in one sentence
    slots: tuple[tuple[str, ...], ...] = ()  # modifiers: one of each slot's terms in the same sentence
    label: str = ""  # the finding as the query named it
    sides: tuple[tuple[str, ...], ...] = ()  # laterality: like slots, but kept even when a search relaxes
    broader: tuple[tuple[str, ...], ...] = ()  # the lexicon's wordings more general than the finding: not it
    stated: tuple[tuple[str, ...], ...] = ()  # the variants the query itself words (the rest are the lexicon's)
    general: tuple[tuple[str, ...], ...] = ()  # the finding's group's own broader wordings ("effusion" of "pleural
    #                                            effusion"; Wordings.broader): a denied query reads them in any status
    through: tuple[Broader, ...] = ()  # the broader wordings a full-text search of this clause also matches (a
    #                                    denied query's: readings("negated"); the assertion sets' broader queries)

    def denied_by(self) -> tuple[tuple[str, ...], ...]:
        """The broader wordings whose denial denies the finding ("no effusion": no pleural effusion): those ending on
        the word one of its wordings ends on, its head ("effusion" of "pleural effusion", "fracture" of "rib
        fracture"), and those inside none of them (the group's general wordings). Not a finding of the lexicon that
        only qualifies one: "No calcified lymph nodes." says nothing of a calcified granuloma."""
        def inside(b, v):
            return set(b) <= set(v)

        return tuple(b for b in self.broader if any(inside(b, v) and b[-1] == v[-1] for v in self.variants)
                     or not any(inside(b, v) for v in self.variants))

    def readings(self, status: str) -> tuple[Broader, ...]:
        """The broader wordings through which a text gives the finding ``status`` (the text's status) when it does
        not name the finding itself (match_clause): denied, those of denied_by (whatever the query's status);
        for a denied query, also its group's general wordings in any status ("Small bilateral effusions." in a
        chest report contradicts "no pleural effusion"). Each only where it names the finding (Broader)."""
        denied, denial = status == "negated", self.status == "negated"
        wordings = (self.denied_by() if denied else ()) + (self.general if denial else ())
        wordings = tuple(w for w in dict.fromkeys(wordings) if w not in self.variants)
        known = set(self.variants) | set(wordings)
        return tuple(Broader(w, tuple(o for o in _containing(w) if o not in known)) for w in wordings)

    @cached_property
    def readings_by_status(self) -> dict[str, tuple[Broader, ...]]:
        """readings() for each status a text can give the finding (computed once per clause)."""
        return {status: self.readings(status) for status in STATUSES}

    def all_terms(self) -> set[str]:
        return {t for v in self.variants for t in v} | {t for s in self.slots + self.sides for t in s}

    def read_terms(self) -> set[str]:
        """Every term through which a text may give the finding a status: all_terms, and the words of its broader
        readings in any status ("air space disease" of a denied "airspace consolidation")."""
        return self.all_terms() | {t for found in self.readings_by_status.values() for r in found for t in r.wording}

    @cached_property
    def read_stems(self) -> frozenset[str]:
        """The stems (medsearch.lexical.tokens.stems) of read_terms: a normalised sentence holding none of them
        gives the finding no status (the explanations' cheap pre-test; computed once per clause, not per hit)."""
        return frozenset(s for t in self.read_terms() for s in stems(t))

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
# units of similar weight any two do. Two limits keep what the query is about (2026-12-02; the demo's "thyroid
# nodule" ended with breast and plantar nodules, "pleural effusion" with splenic and pelvic "fluid", "pulmonary
# embolism" with dental root "fillings" and a "defect fill"):
#   - the anatomy the clause names (anatomy(), below): a relaxed match holds some of it, in any of its forms or
#     parts ("L1" holds the spine), and a rare word of the finding matches with it, not alone;
#   - a wording the lexicon adds (not one the query itself uses: Clause.stated) is the finding's synonym only as a
#     whole: "filling defect pulmonary artery" is no "filling", "pleural fluid" no "fluid"; only its modifiers may go.
# Matches are ranked by BM25 over all the clause's words. A denial is relaxed to any of its words (see
# relaxed_alternatives).
RELAXED_SHARE = 0.5
RARE = 0.01  # the Elasticsearch guide's example cutoff_frequency
RELAXED_UNITS = 8  # words + slots per wording weighed at most (the heaviest); past that 2^n alternatives


# Where a finding is: organs, bones, vessels and body regions, each with its other forms (noun, adjective; words as
# medsearch.lexical.tokens folds them), listed in the lexicon's "anatomy" section (medsearch/data/lexicon.json), and
# their parts in its "anatomy_parts" section (part-of, as in the FMA or SNOMED CT's part-of links: a vertebral level,
# a disc or the lumbar spine are the spine's, the lingula or a costophrenic angle the lung's, a ventricle the heart's
# and the brain's). A relaxed match holds at least one of those the clause names (its wording's or its modifiers'),
# in any of its forms or parts and weighed as such: a finding in another organ does not answer the query however rare
# the finding's word ("nodule" of "thyroid nodule": no breast nodule), while "eventration of the right
# hemidiaphragm" still answers "diaphragmatic eventration" and "compression fracture of L1" a "spine fracture". An
# organ named in more than COMMON_ORGAN of the sentences (any form or part, any status) is what the archive is about
# and its texts leave it unsaid (chest reports: "infiltrate", "atelectasis" without "lung"): there it is weighed like
# any word. Positions ("distal", "upper", "lobe") and sizes are no anatomy: a relaxed match may drop them. Forms are
# one organ's only: "cervical" (spine or cervix) is no "neck" (femoral, humeral, pancreatic neck); plurals the
# tokenizer does not fold are listed ("hila", "kidneys"). A part is one word, never one another organ's part is
# named by too ("lobe": the lung's, the liver's, the thyroid's, the brain's), and it stands for its whole, not the
# whole for the part: "lumbar" holds the lumbar spine only, "spine" any of its levels. One exception, measured:
# "ventricle" is the heart's and the brain's. It makes a cardiac mass a relaxed "brain tumor" hit, but the query's
# other words mostly pick the organ (an aneurysm, a thrombus, a hemorrhage): without it, 16 heart and brain queries
# over the ROCO and MedPix captions (lexical top 10) lost 3 false hits and as many true ones (8 lost, 5 others found;
# 2026-12-02), no gain to change the default for.
@lru_cache(maxsize=1)
def anatomy() -> dict[str, tuple[str, ...]]:
    """Anatomy word (as a term) -> the words that name its organ: all its forms, then its parts' (with their own
    forms and parts), from the lexicon's 'anatomy' and 'anatomy_parts' sections (see above)."""
    from medsearch.prompts import lexicon_data

    data = lexicon_data()
    forms = {organ: tuple(dict.fromkeys(text_terms(" ".join([organ, *others]))))
             for organ, others in data["anatomy"].items()}
    organ_of = {word: organ for organ, group in forms.items() for word in group}
    parts = {organ: [t for part in listed for t in text_terms(part)]
             for organ, listed in data.get("anatomy_parts", {}).items()}

    def named_by(organ: str, seen: frozenset) -> list[str]:
        words = list(forms.get(organ, ()))
        for part in parts.get(organ, ()):
            whole = organ_of.get(part)  # a part that is an organ of its own brings its forms and parts
            words += named_by(whole, seen | {whole}) if whole and whole not in seen else [part]
        return words

    named = {organ: tuple(dict.fromkeys(named_by(organ, frozenset({organ})))) for organ in forms}
    return {word: named[organ] for word, organ in organ_of.items()}


COMMON_ORGAN = 0.1  # share of the sentences naming an organ (any form) past which the archive is about it


@lru_cache(maxsize=1024)
def _anatomy_of(clause: Clause) -> dict[str, tuple[str, ...]]:
    """The anatomy ``clause`` names (its wordings' and modifiers' words) -> the words that hold it: anatomy()'s, less
    the forms of another organ the clause names, which hold that one ("lumbar spine": "lumbar" holds the lumbar
    spine, not the spine a second time; "Lumbar hernia." holds one organ of the two)."""
    table = anatomy()
    named = {t for v in clause.variants for t in v if t in table} | {t for s in clause.slots for t in s if t in table}
    forms = {t: {w for w, group in table.items() if group == table[t]} for t in named}
    return {t: tuple(w for w in table[t] if not any(w in forms[o] for o in named if table[o] != table[t]))
            for t in named}


def relaxation_units(clause: Clause) -> list[Clause]:
    """What a relaxed match of ``clause`` weighs, each as a clause of its own: its terms (relaxed_terms), each
    of its wordings of several words (in one sentence) and each organ it names, all its forms (anatomy(); its
    wordings' in the columns of its status, and any organ in any column). An empty list for a denial, which is not
    weighed (relaxed_alternatives)."""
    if clause.status == "negated":
        return []
    units = relaxed_terms(clause) + [_all_of(v, clause.status) for v in clause.variants if len(set(v)) > 1]
    words = sorted({t for v in clause.variants for t in v})
    named = words + sorted({t for s in clause.slots for t in s})
    where = _anatomy_of(clause)
    return list(dict.fromkeys(units + [_any_of(forms, clause.status) for forms in _organs(words, where)]
                              + [_any_of(forms) for forms in _organs(named, where)]))


def relaxed_terms(clause: Clause) -> list[Clause]:
    """Every word of the clause's wordings (in the columns of its status, like the finding) and every modifier
    slot (any column), each as a clause of its own: a relaxed match is ranked by all of them (BM25 over the
    clause). Sides are no unit: they always apply."""
    words = dict.fromkeys(t for v in clause.variants for t in v)
    return [_any_of((t,), clause.status) for t in words] + [_any_of(slot) for slot in clause.slots]


# The units of the weighing, each a clause: made here alone, since relaxed_alternatives looks each one up in the
# counts that relaxation_units' clauses keyed (a unit made another way would be another key).
def _any_of(words: tuple[str, ...], status: str = "any") -> Clause:
    """Any one of ``words`` (a word of the finding, a modifier slot, an organ's forms and parts) in the columns of
    ``status``."""
    return Clause(status=status, variants=tuple((t,) for t in words))


def _all_of(wording: tuple[str, ...], status: str) -> Clause:
    """All of a wording's words in one sentence, in the columns of ``status``."""
    return Clause(status=status, variants=(wording,))


def _any_word(clause: Clause) -> Clause:
    """Any word of the clause (its wordings, the general ones a denial reads, its modifiers), in the columns of its
    status, on its sides."""
    words = sorted({t for v in clause.variants + clause.general for t in v} | {t for s in clause.slots for t in s})
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
    tumor"). Each alternative holds some of the anatomy the clause names, unless the archive is about it, and of a
    wording the lexicon adds (not in ``clause.stated``, when that is given) all its words (see above)."""
    from itertools import combinations

    if clause.status == "negated":
        # a text that denies part of what the query denies cannot contradict it (the assertion tiers rank a text
        # asserting the finding below), and without such texts a finding rarely denied in words would leave a
        # negated query to the dense hits, which ignore negation: any word of it, denied, will do
        return [_any_word(clause)]

    anatomy_named = _anatomy_of(clause)

    def matched(count, terms, status="any"):
        # anatomy is matched in any of its forms and parts (_alternative): what they match together
        return max([count] + [counts.get(_any_of(forms, status), 0) for forms in _organs(terms, anatomy_named)])

    def holding(t):  # sentences holding a word of the finding (an organ: in any form or part)
        return matched(counts[_any_of((t,), clause.status)], (t,), clause.status)

    def in_the_texts(variant):
        return all(holding(t) for t in variant)

    slot_counts = {s: matched(counts[_any_of(s)], s) for s in clause.slots}
    slots = {s: idf(n, total) for s, n in slot_counts.items() if n}
    found: list[tuple[frozenset, frozenset]] = []  # (words, slots) of each minimal alternative
    own = clause.stated
    for variant in [v for v in clause.variants if in_the_texts(v)] or clause.variants:
        words = {t: idf(holding(t), total) for t in dict.fromkeys(variant) if holding(t)}
        # another wording of the finding (the lexicon's, not the query's) is its synonym only whole: "filling
        # defect pulmonary artery" for "pulmonary embolism" is no "filling" or "defect", "pleural fluid" no "fluid"
        whole_only = bool(own) and variant not in own and len(words) > 1
        if not words and not slots:
            continue
        whole = sum(words.values())
        if len(words) > 1 and len(words) == len(set(variant)):  # the wording weighs as one unit: all its words
            whole = idf(counts[_all_of(variant, clause.status)], total)  # in one sentence
        # each word earns the wording's weight in proportion to its own
        units = [("word", t, whole * w / sum(words.values())) for t, w in words.items()]
        units += [("slot", s, w) for s, w in slots.items()]
        units = sorted(units, key=lambda u: -u[2])
        # where the finding is (anatomy()): a relaxed match holds some of it, unless the archive is about that organ
        where = [u for u in units if _names_uncommon_organ(u, counts, total, anatomy_named)][:RELAXED_UNITS]
        units = where + [u for u in units if u not in where][:RELAXED_UNITS - len(where)]
        total_weight = sum(w for _, _, w in units)
        rare = {t for t in words if holding(t) <= rare_share * total}  # a finding's word, never a modifier
        for size in range(1, len(units) + 1):
            for subset in combinations(units, size):
                if where and not any(u in where for u in subset):
                    continue
                if whole_only and not words.keys() <= {t for kind, t, _ in subset if kind == "word"}:
                    continue
                rest = [u for u in subset if u not in where]  # a rare word of the finding may go with the organ alone
                if sum(w for _, _, w in subset) <= share * total_weight and not (len(rest) == 1 and rest[0][1] in rare):
                    continue
                held = (frozenset(t for kind, t, _ in subset if kind == "word"),
                        frozenset(s for kind, s, _ in subset if kind == "slot"))
                # what is left of the finding must not be a wording more general than it: "effusion" alone of
                # "pleural effusion", "nodule" of "lung nodule" (the lexicon's broader wordings; concept_wordings);
                # such a subset is no alternative, so the larger ones holding it stay candidates
                if not held[1] and any(held[0] <= set(b) for b in clause.broader):
                    continue
                if not any(w <= held[0] and s <= held[1] for w, s in found):  # minimal: nothing smaller suffices
                    found.append(held)
    # an alternative of one wording may contain another's (both hold "brain"): the smaller one already matches
    minimal = [(w, s) for w, s in found if not any((w2, s2) != (w, s) and w2 <= w and s2 <= s for w2, s2 in found)]
    return [_alternative(clause, words, held_slots) for words, held_slots in minimal]


def _organs(terms, table: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The anatomy ``terms`` name, each as the words that hold it (``table``: _anatomy_of a clause)."""
    return list(dict.fromkeys(table[t] for t in terms if t in table))


def _names_uncommon_organ(unit, counts: dict, total: int, table: dict[str, tuple[str, ...]]) -> bool:
    """Whether a unit of the weighing (a word or a modifier slot) names anatomy the archive is not about: one in
    more than COMMON_ORGAN of the sentences (any form) is what the archive is about, and its texts leave it
    unsaid ("infiltrate" in a chest report is the lung's)."""
    kind, term, _ = unit
    organs = _organs((term,) if kind == "word" else term, table)
    return any(counts.get(_any_of(forms), 0) <= COMMON_ORGAN * total for forms in organs)


def _any_form(slot: tuple[str, ...], table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """A modifier slot with each anatomy word's other forms ("lung": also "pulmonary")."""
    return tuple(dict.fromkeys(f for t in slot for f in table.get(t, (t,))))


def _alternative(clause: Clause, words: frozenset, slots: frozenset) -> Clause:
    """One relaxed alternative as a clause: the finding's words it holds (its anatomy in any of its forms) in the
    columns of the clause's status, and its modifiers (anatomy in any form) in the same sentence, any column, on
    the clause's sides."""
    from itertools import product

    table = _anatomy_of(clause)
    finding = tuple(sorted(t for t in words if t not in table))
    where = [table[t] for t in sorted(words) if t in table]
    variants = tuple(finding + forms for forms in product(*where)) if words else ()
    return Clause(status=clause.status, variants=variants, label=clause.label, sides=clause.sides,
                  slots=tuple(_any_form(s, table) for s in clause.slots if s in slots))


@dataclass
class LexicalQuery:
    text: str  # what was analysed (normalised, expanded)
    clauses: list[Clause] = field(default_factory=list)

    @property
    def negated(self) -> bool:
        return any(c.status == "negated" for c in self.clauses)


# Expansion goes down a concept hierarchy, never up (the is-a links of UMLS / SNOMED CT): "pleural effusion" is-a
# "effusion", so a query for the pleural effusion may be answered by "pleural fluid" (the same finding) but not by a
# bare "effusion", which in an archive of more than chest films is as often a joint's or the pericardium's. Within a
# lexicon group (a finding and its wordings) a wording is BROADER than the finding when its words are a proper
# subset of the finding's ("effusion" of "pleural effusion", "mass" of "pulmonary mass", "infarction" of "cerebral
# infarction"; not when the rest is another wording of the group, as in "dyspnea shortness of breath"), or when it
# is what is left of a wording of the group once the finding's own modifiers are taken away ("embolus" of
# "pulmonary embolus", a wording of "pulmonary embolism"). A wording that is a finding of its own stands for that
# finding ("emphysema", not the COPD group it is also a wording of). A query wording W then stands for:
#   - W broader than the group's finding ("effusion", "nodule"): W itself and, as narrower findings, every wording
#     of the groups it is broader than; the narrower ones only while the query gives W no modifier of its own: in
#     "knee joint effusion" or "renal mass" the modifier names the organ, and "pleural fluid" or "lung mass" would
#     answer with another organ's finding.
#   - W narrower than the finding ("subsegmental atelectasis" in the "atelectasis" group): W and wordings that
#     contain it, never the finding itself.
#   - otherwise (the finding or a synonym of it: "lung nodule" of "pulmonary nodule"): the group's wordings, less
#     the broader ones and any whose words are a proper subset of W's.
# A term the user wrote is never dropped as broader than the phrase the lexicon rewrote it to ("heart failure" ->
# "congestive heart failure"). A DENIAL keeps the broader wordings, apart from its own (Clause.general, readings): a
# text that asserts "small bilateral effusions" contradicts "no pleural effusion" in a chest report, and reading it
# as silent on the finding would rank it with the texts that deny it; but a text that names the finding itself
# decides by that ("No pleural effusion. Small pericardial effusion."), and a broader wording speaks for it only
# as itself, not inside another of the lexicon's wordings (Broader). The relaxed match (above) is not reduced to a
# broader wording either (Clause.broader).
# The cost, measured on IU X-ray (benchmarks/README.md): chest reports leave the organ unsaid ("interstitial
# disease", "left basilar fibrosis", "a right hilar mass"), so a few sided or organ-named chest queries lose
# reports; more queries gain (hybrid with negation: IU tuning half nDCG@10 +0.0015, ROCO unchanged).


@dataclass(frozen=True)
class Wordings:
    """What a query wording stands for: ``same`` (itself and its synonyms, most specific first: the finding's own
    wording leads), ``narrower`` (the narrower findings' wordings, for a wording broader than a group's finding)
    and ``broader`` (the group's wordings more general than W: only a denial uses them)."""
    same: tuple[tuple[str, ...], ...]
    narrower: tuple[tuple[str, ...], ...] = ()
    broader: tuple[tuple[str, ...], ...] = ()

    def for_clause(self, modified: bool) -> tuple[tuple[str, ...], ...]:
        """The wordings a clause matches as the finding's own; ``modified``: the query gives the finding a modifier.
        Never the broader ones, not even for a denial: those speak for the finding only in a text that does not
        name it (Clause.readings)."""
        return tuple(dict.fromkeys(self.same + (() if modified else self.narrower)))


def _more_general(wording: tuple[str, ...], than: tuple[str, ...], group: set[tuple[str, ...]]) -> bool:
    """``wording``'s words are a proper subset of ``than``'s, and the rest is not another wording of the group (a
    phrase of two synonyms side by side, "dyspnea shortness of breath" for SOB, is no finding with a modifier)."""
    rest = set(than) - set(wording)
    return set(wording) < set(than) and not any(set(other) == rest for other in group)


def _broader_in(group: set[tuple[str, ...]], key: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The wordings of ``group`` more general than its finding ``key`` (see above)."""
    out = set()
    for wording in group:
        words = set(wording)
        if _more_general(wording, key, group):
            out.add(wording)
        elif any(words < set(other) and set(other) - words <= set(key) for other in group if other != key):
            out.add(wording)
    return out


@lru_cache(maxsize=1)
def concept_wordings() -> dict[tuple[str, ...], Wordings]:
    """Query wording (as terms) -> what it stands for, from the lexicon's phrases and variants (see above)."""
    from medsearch.prompts import lexicon_data

    data = lexicon_data()
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

    def ordered(key, wordings):
        return tuple(sorted(wordings, key=lambda g: (g != key, len(g), g)))

    broader = {key: _broader_in(group, key) for key, group in groups.items()}
    narrower: dict[tuple[str, ...], list[tuple[str, ...]]] = {}  # a broader wording -> the groups under it
    for key, group in groups.items():
        for wording in broader[key]:
            narrower.setdefault(wording, []).append(key)
    table: dict[tuple[str, ...], Wordings] = {}
    home: dict[tuple[str, ...], tuple[str, ...]] = {}  # a wording -> its group: its own, else the first that has it
    for key, group in groups.items():
        for wording in group:
            if wording == key or (wording not in groups and wording not in broader[key]):
                home.setdefault(wording, key)
    for key, group in groups.items():
        for wording in group:
            home.setdefault(wording, key)  # a wording only ever broader than its groups' findings
    for wording, key in home.items():
        group, words = groups[key], set(wording)
        below = tuple(w for k in narrower.get(wording, ()) for w in ordered(k, groups[k]) if w != wording)
        if wording in broader[key]:
            table[wording] = Wordings(same=(wording,), narrower=below)
        elif set(key) < words:
            table[wording] = Wordings(same=ordered(wording, [w for w in group if words <= set(w)]),
                                      broader=ordered(key, [w for w in group if not words <= set(w)]))
        else:
            up = {w for w in group if w in broader[key] or _more_general(w, wording, group)}
            table[wording] = Wordings(same=ordered(key, group - up), narrower=below,
                                      broader=ordered(key, up))
    return table


def _broader_than(variants, wordings: Wordings | None, typed) -> tuple[tuple[str, ...], ...]:
    """What a relaxed match of these wordings must not be reduced to: the group's broader wordings, and any finding of
    the lexicon made of some of a wording's words ("opacity" of "nodular opacity", "granuloma" of "calcified
    granuloma"), unless the user wrote it."""
    inside = {k for v in variants for k in _findings_inside(v) if k not in typed}
    found = (wordings.broader if wordings else ()) + tuple(sorted(inside))
    return tuple(w for w in dict.fromkeys(found) if w not in variants)  # never a wording the clause matches itself


@lru_cache(maxsize=4096)
def _containing(wording: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The lexicon's wordings made of all of ``wording``'s words and more ("pericardial effusion", "knee joint
    effusion" for "effusion")."""
    return tuple(k for k in concept_wordings() if set(wording) < set(k))


@lru_cache(maxsize=4096)
def _findings_inside(wording: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The lexicon's wordings made of some (not all) of ``wording``'s words."""
    return tuple(k for k in concept_wordings() if set(k) < set(wording))


def _find_concepts(words: list[str]) -> list[tuple[int, int]]:
    table = concept_wordings()
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
    from medsearch.prompts import default_lexicon, normalise, prepare_query

    text = prepare_query(query, expand=expand)
    # a term the lexicon rewrote is the user's own wording: never dropped as broader than the phrase it became
    # ("heart failure" -> "congestive heart failure")
    typed = {tuple(text_terms(t)) for t in default_lexicon().terms_in(normalise(query))} if expand else set()
    terms = [t for s in analyse(text, rules=query_rules()) for t in s.terms]
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
    keys = {span: concept_terms.get(span) or tuple(words[span[0]:span[1]]) for span in spans}
    table = concept_wordings()
    # modality clauses and modifiers go when a finding is asked for: the modifiers here, so that they make no
    # modifier of a clause (Wordings.for_clause), the clauses below
    modality_free = any(not _is_modality(table[k].same[0] if k in table else k) for k in keys.values())
    clauses = []
    for span in spans:
        key = keys[span]
        status = _status_of(terms[span[0]:span[1]])
        slots = tuple(s for s in dict.fromkeys(attached[span]) if not (modality_free and _is_modality(s)))
        wordings = table.get(key)
        if wordings and typed & set(wordings.broader):
            wordings = replace(wordings, same=wordings.same + tuple(w for w in wordings.broader if w in typed),
                               broader=tuple(w for w in wordings.broader if w not in typed))
        variants = wordings.for_clause(modified=bool(slots)) if wordings else (key,)
        clause = Clause(status=status, variants=variants, slots=slots, label=" ".join(key),
                        sides=tuple(dict.fromkeys(sides[span])),
                        stated=tuple(v for v in variants if v == key or v in typed),
                        broader=_broader_than(variants, wordings, typed),
                        general=tuple(w for w in wordings.broader if w not in variants) if wordings else ())
        # a denied query's full-text search also finds the texts that deny it in broader words ("No effusion.")
        clauses.append(replace(clause, through=clause.readings("negated")) if status == "negated" else clause)
    findings = [c for c in clauses if not _is_modality(c.variants[0])]  # non-empty exactly when modality_free
    return LexicalQuery(text=text, clauses=findings or clauses)


def _is_modality(terms) -> bool:
    return bool(terms) and set(terms) <= MODALITY_TERMS


# --- checking a text in Python (reranking and explanations) -----------------------------------------

@dataclass
class ClauseMatch:
    statuses: set[str]  # every status the finding has in the text (see match_clause)
    terms: list[Term]  # the matching terms, for highlighting


def match_clause(clause: Clause, sentences: list[Sentence]) -> ClauseMatch:
    """Every status the text gives the clause's finding, from its sentences that name it by one of its own wordings
    (all the wording's terms in one sentence, in that status) with the query's modifiers and sides; only when
    none does, from those naming it by a broader wording (Clause.readings): "No pleural effusion. Small
    pericardial effusion." denies the pleural effusion, "Small bilateral effusions." asserts it for a denied query.
    The full-text assertion sets decide the same way (medsearch.query.fusion.assertion_sets)."""
    constraints = clause.constraints()
    readings = clause.readings_by_status  # once per clause, not once per sentence
    own, broader = ClauseMatch(set(), []), ClauseMatch(set(), [])
    for sentence in sentences:
        if constraints and not all(any(t.term in slot for t in sentence.terms) for slot in constraints):
            continue
        by_status: dict[str, list[str]] = {}
        for t in sentence.terms:
            by_status.setdefault(t.status, []).append(t.term)
        for status, words in by_status.items():
            have = set(words)
            variant = next((v for v in clause.variants if have.issuperset(v)), None)
            if variant is not None:
                _found(own, status, variant, sentence, constraints)
            elif not own.statuses and readings[status]:
                reading = next((r for r in readings[status] if r.found_in(words)), None)
                if reading is not None:
                    _found(broader, status, reading.wording, sentence, constraints)
    return own if own.statuses else broader


def _found(match: ClauseMatch, status: str, wording: tuple[str, ...], sentence: Sentence, constraints) -> None:
    match.statuses.add(status)
    wanted = set(wording) | {w for slot in constraints for w in slot}
    match.terms += [t for t in sentence.terms if t.term in wanted and (t.term not in wording or t.status == status)]


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
