"""Retrieval-based report drafts: findings and impression sentences taken verbatim from the most similar cases,
each citing the case it came from (archive, case id, similarity, licence). No generative model: every sentence
of a draft is a sentence of a source case, with its assertion mark from ``medsearch.lexical`` (a negated finding
stays negated and is marked "negated", with its negated terms). Below the similarity threshold (``medsearch.teaching.calibrate``) the draft is refused with
"no similar case close enough".

Sentence choice, consensus over the cited cases (the top ``CASES`` that pass the threshold; a case without case
text contributes its items' texts): every findings sentence of every case is read for the findings it states and
their assertion (``medsearch.teaching.findings``: present, absent, uncertain). A finding is drafted present (or
uncertain) when at least ``FINDING_SHARE`` of the cases state it so, absent when at least ``STATEMENT_SHARE`` deny
it, and in either case only when more cases give it that polarity than any other (cases that disagree draft
neither side). A sentence is quoted only when every finding it states is agreed; a sentence that names no finding
("Lungs are clear.", a normal statement) when at least ``STATEMENT_SHARE`` of the cases hold a similar one (same
assertion mark); never fewer than ``MIN_CASES`` cases. The nearest case's word carries no more weight than
another's: one case alone, even the nearest, is no consensus (a draft from one close case quotes nothing, and says
so). Sentences are picked present findings first, then by how many agreed findings they add and how
many cases say the same, then the most common wording (ties: the nearest case's); near-duplicates are dropped; at most
``MAX_SENTENCES``, in the order the cases' reports give (mean place in the reports that say the same). Each
sentence cites its own case and the other cases that say the same (``supported_by``; ``score``: the share of the
cases that say it). Shares and ``CASES`` were chosen on IU X-ray val drafts (benchmarks/README.md). The impression
lists the distinct diagnoses of the cited cases, nearest first (a differential, each cited).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from medsearch.teaching.calibrate import similarity_threshold
from medsearch.teaching.cases import CaseHit, search_cases
from medsearch.teaching.diagnosis import same_diagnosis
from medsearch.teaching.findings import POLARITY, Statement, sentence_statements
from medsearch.teaching.sentences import MIN_WORDS, assertion_and_negated, jaccard, split_sentences, words

CASES = 7
MAX_SENTENCES = 6
FINDING_SHARE = 0.6  # a finding is drafted present (or uncertain) when at least this share of the cases say so
STATEMENT_SHARE = 0.4  # a finding drafted absent, a normal statement: at least this share of the cases
MIN_CASES = 2  # and never fewer cases than this: one case alone is no consensus
POLARITIES = tuple(dict.fromkeys(POLARITY.values()))
SUPPORT_JACCARD = 0.35  # a sentence of another case with no finding says the same at least this similar (same mark)
DUPLICATE_JACCARD = 0.6
FINDINGS_SECTIONS = ("findings",)
IMPRESSION_SECTIONS = ("impression", "diagnosis")
NO_CLOSE_CASE = "no similar case close enough"
NO_TEXT = "no sentence to quote: the similar cases hold no findings, impression or diagnosis text (sources below)"
NO_AGREEMENT = "no sentence to quote: the similar cases agree on no finding or statement (sources below)"
NOT_AGREED = "none that the similar cases agree on"
ONE_CASE = "no sentence to quote: only one similar case is close enough, and one case is no consensus (source below)"


@dataclass
class Citation:
    number: int  # [n] in the draft text
    archive: str
    case: str
    case_id: int | None
    score: float  # similarity of the case to the query
    licence: str | None
    diagnosis: str | None
    title: str | None


@dataclass
class DraftSentence:
    text: str  # verbatim from the source
    section: str  # "findings" or "impression"
    assertion: str  # asserted | negated | partly negated | uncertain | historical
    citation: int  # the number of the case it came from
    supported_by: list[int] = field(default_factory=list)  # other cited cases with a similar sentence
    score: float = 0.0
    negated_terms: list[str] = field(default_factory=list)


@dataclass
class Draft:
    status: str  # "ok" or "no_close_case"
    message: str
    best_score: float | None
    threshold: float | None
    findings: list[DraftSentence] = field(default_factory=list)
    impression: list[DraftSentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    empty: str = NO_TEXT  # why an ok draft has no findings sentence (what it says when it has no sentence at all)

    def to_dict(self) -> dict:
        return {**asdict(self), "text": self.text()}

    def text(self) -> str:
        """The draft as plain text: sections, sentences with [n] citations and marks, then the sources."""
        if self.status != "ok":
            return self.message
        lines = [] if self.findings or self.impression else [self.empty]
        if self.impression and not self.findings and self.empty != NO_TEXT:
            lines.append(f"FINDINGS: {NOT_AGREED}")
        for title, sentences in (("FINDINGS", self.findings), ("IMPRESSION", self.impression)):
            if sentences:
                lines.append(f"{title}:")
                for s in sentences:
                    mark = "" if s.assertion == "asserted" else f" ({s.assertion})"
                    lines.append(f"- {s.text} [{', '.join(str(n) for n in [s.citation, *s.supported_by])}]{mark}")
        lines.append("SOURCES:")
        for c in self.citations:
            what = f" - {c.diagnosis}" if c.diagnosis else ""
            lines.append(f"[{c.number}] {c.archive}/{c.case}{what} (similarity {c.score:.3f}; licence: {c.licence or 'not stated'})")
        return "\n".join(lines)


def _sources(hit: CaseHit, sections: tuple[str, ...], min_words: int = MIN_WORDS) -> list[str]:
    texts = [hit.sections[name] for name in sections if hit.sections.get(name)]
    if not texts and not hit.sections and sections == FINDINGS_SECTIONS:
        texts = [item.text for item in hit.items if item.text]  # a case without case text: its items' texts
    return [s for text in texts for s in split_sentences(text, min_words)]


@dataclass(eq=False)
class _Candidate:
    citation: Citation
    text: str
    mark: str
    negated: list[str]
    bag: frozenset
    statements: frozenset  # the findings it states (medsearch.teaching.findings), empty for a normal statement
    position: int
    place: float  # where in its report it stands, 0 (first) .. 1 (last)
    support: frozenset = frozenset()  # the cases (citation numbers) that say the same, its own included
    kin: tuple = ()  # the candidates that say the same, for the order of the draft


def _candidates(citations: list[Citation], hits: list[CaseHit]) -> list[_Candidate]:
    out = []
    for citation, hit in zip(citations, hits):
        # a one-word sentence only when it names a finding ("Cardiomegaly."), not "None." or "XXXX."
        sentences = [s for s in _sources(hit, FINDINGS_SECTIONS, min_words=1)
                     if len(words(s)) >= MIN_WORDS or sentence_statements(s)]
        for position, sentence in enumerate(sentences):
            mark, negated = assertion_and_negated(sentence)
            out.append(_Candidate(citation, sentence, mark, negated, words(sentence), sentence_statements(sentence),
                                  position, position / max(1, len(sentences) - 1)))
    return out


def _needed(share: float, cases: int) -> int:
    return max(MIN_CASES, math.ceil(share * cases - 1e-9))


def _votes(candidates: list[_Candidate]) -> dict[Statement, set[int]]:
    """Each statement -> the cases (citation numbers) that make it."""
    votes: dict[Statement, set[int]] = defaultdict(set)
    for c in candidates:
        for statement in c.statements:
            votes[statement].add(c.citation.number)
    return votes


def _agreed(votes: dict[Statement, set[int]], cases: int, finding_share: float, statement_share: float) -> set:
    """The statements enough cases make: a finding present (or uncertain) in at least ``finding_share`` of the
    cases, absent in at least ``statement_share``, and in each case more cases than give it any other polarity."""
    agreed = set()
    for statement, who in votes.items():
        rivals = [len(votes.get(Statement(statement.finding, p), ())) for p in POLARITIES if p != statement.polarity]
        share = statement_share if statement.polarity == "absent" else finding_share
        if len(who) >= _needed(share, cases) and len(who) > max(rivals):
            agreed.add(statement)
    return agreed


def _link(candidates: list[_Candidate], votes: dict[Statement, set[int]]) -> None:
    """Who says the same as each candidate: the cases that make every statement of a finding sentence, the similar
    sentences (same mark) of a sentence that names no finding."""
    for c in candidates:
        if c.statements:
            c.support = frozenset.intersection(*(frozenset(votes[st]) for st in c.statements))
            c.kin = tuple(o for o in candidates if o.statements & c.statements)
        else:
            c.kin = tuple(o for o in candidates if not o.statements and o.mark == c.mark
                          and jaccard(c.bag, o.bag) >= SUPPORT_JACCARD)
            c.support = frozenset({c.citation.number} | {o.citation.number for o in c.kin})


def _typical(c: _Candidate) -> float:
    """How like the other cases' sentences that say the same this wording is (mean word overlap): the common
    wording of a statement before an odd one."""
    others = [k for k in c.kin if k is not c]
    return round(sum(jaccard(c.bag, k.bag) for k in others) / len(others), 3) if others else 0.0


def _eligible(c: _Candidate, agreed: set, cases: int, statement_share: float) -> bool:
    if c.statements:
        return c.statements <= agreed
    return len(c.support) >= _needed(statement_share, cases)


def compose(hits: list[CaseHit], max_sentences: int = MAX_SENTENCES, finding_share: float = FINDING_SHARE,
            statement_share: float = STATEMENT_SHARE) -> tuple[list[DraftSentence], list[DraftSentence], list[Citation]]:
    """Findings, impression and citations from ranked case hits (scores = similarity to the query): see the module
    doc for how the findings sentences are chosen."""
    citations = [Citation(i + 1, h.archive, h.case, h.case_id, float(h.item_score if h.item_score is not None else h.score),
                          h.licence, h.diagnosis, h.title) for i, h in enumerate(hits)]
    candidates = _candidates(citations, hits)
    votes = _votes(candidates)
    agreed = _agreed(votes, len(hits), finding_share, statement_share)
    _link(candidates, votes)
    pool = [c for c in candidates if _eligible(c, agreed, len(hits), statement_share)]
    chosen: list[_Candidate] = []
    covered: set = set()
    while pool and len(chosen) < max_sentences:
        def rank(c: _Candidate):
            new = len(c.statements - covered)
            finding = any(st.polarity != "absent" for st in c.statements - covered)
            return (finding, new, len(c.support), _typical(c), -c.citation.number, -c.position)

        best = max(pool, key=rank)
        chosen.append(best)
        covered |= best.statements
        pool = [c for c in pool if c is not best and c.text != best.text
                and jaccard(c.bag, best.bag) < DUPLICATE_JACCARD
                and (c.statements - covered if c.statements else best.statements or all(c is not k for k in best.kin))]
    chosen.sort(key=lambda c: (sum(k.place for k in c.kin) / len(c.kin) if c.kin else c.place, c.citation.number))
    findings = [DraftSentence(c.text, "findings", c.mark, c.citation.number,
                              sorted(c.support - {c.citation.number}), round(len(c.support) / len(hits), 3),
                              list(c.negated)) for c in chosen]
    impression: list[DraftSentence] = []
    for citation, hit in zip(citations, hits):
        sentences = _sources(hit, IMPRESSION_SECTIONS) or ([hit.diagnosis] if hit.diagnosis else [])
        for sentence in sentences[:2]:
            if any(same_diagnosis(sentence, other.text) or sentence == other.text for other in impression):
                continue
            mark, negated = assertion_and_negated(sentence)
            impression.append(DraftSentence(sentence, "impression", mark, citation.number, [], citation.score,
                                            negated))
    return findings, impression, citations


def draft_from_vector(index, vector, target: str = "image", filters=None, cases: int = CASES,
                      min_score: float | None = None, max_sentences: int = MAX_SENTENCES,
                      exclude: set | None = None) -> Draft:
    """A draft for a query vector in ``target``'s space (an image for image->image; a report text for text->text)."""
    threshold = min_score if min_score is not None else similarity_threshold(index, target)
    hits = search_cases(index, np.asarray(vector, dtype=np.float32), target=target, k=cases, filters=filters,
                        exclude=exclude)
    best = max((h.item_score for h in hits if h.item_score is not None), default=None)
    if best is None or (threshold is not None and best < threshold):
        detail = "no cases in the index" if best is None else f"best similarity {best:.3f} < threshold {threshold:.3f}"
        return Draft("no_close_case", f"{NO_CLOSE_CASE} ({detail})", best, threshold)
    close = [h for h in hits if threshold is None or (h.item_score is not None and h.item_score >= threshold)]
    return draft_from_hits(close, threshold, max_sentences)


def draft_from_hits(close: list[CaseHit], threshold: float | None, max_sentences: int = MAX_SENTENCES,
                    finding_share: float = FINDING_SHARE, statement_share: float = STATEMENT_SHARE) -> Draft:
    """The draft of the close case hits (each at or above ``threshold``, best first)."""
    best = max((h.item_score for h in close if h.item_score is not None), default=None)
    findings, impression, citations = compose(close, max_sentences, finding_share, statement_share)
    quotable = any(_sources(h, FINDINGS_SECTIONS) for h in close)  # findings text to agree on
    empty = NO_TEXT if not quotable else ONE_CASE if len(close) < MIN_CASES else NO_AGREEMENT
    message = f"draft from {len(citations)} similar case(s)" + ("" if findings or impression else f"; {empty}")
    return Draft("ok", message, best, threshold, findings, impression, citations, empty)


def draft_report(index, image, filters=None, **options) -> Draft:
    """A draft for an image (path, bytes or PIL image): its nearest cases by image."""
    return draft_from_vector(index, index.embed_image(image), target="image", filters=filters, **options)
