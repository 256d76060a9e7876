"""Retrieval-based report drafts: findings and impression sentences taken verbatim from the most similar cases,
each citing the case it came from (archive, case id, similarity, licence). No generative model: every sentence
of a draft is a sentence of a source case, with its assertion mark from ``medsearch.lexical`` (a negated finding
stays negated and is marked "negated", with its negated terms). Below the similarity threshold (``medsearch.teaching.calibrate``) the draft is refused with
"no similar case close enough".

Sentence choice: the findings sentences of the top ``CASES`` cases (a case without case text contributes its
items' texts) are scored by the similarity of their case times (1 + the number of other cited cases that hold a
similar sentence with the same assertion). The nearest case's sentences are eligible; another case's only when
at least one other cited case supports it, so that a draft does not splice unrelated cases' findings together.
Near-duplicates are dropped; the best ``MAX_SENTENCES`` are kept. The impression lists the distinct diagnoses of
the cited cases, nearest first (a differential, each cited).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from medsearch.teaching.calibrate import similarity_threshold
from medsearch.teaching.cases import CaseHit, search_cases
from medsearch.teaching.diagnosis import same_diagnosis
from medsearch.teaching.sentences import assertion_and_negated, jaccard, split_sentences, words

CASES = 5
MAX_SENTENCES = 6
SUPPORT_JACCARD = 0.35  # a sentence of another case "supports" one at least this similar (same assertion)
DUPLICATE_JACCARD = 0.6
FINDINGS_SECTIONS = ("findings",)
IMPRESSION_SECTIONS = ("impression", "diagnosis")
NO_CLOSE_CASE = "no similar case close enough"
NO_TEXT = "no sentence to quote: the similar cases hold no findings, impression or diagnosis text (sources below)"


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

    def to_dict(self) -> dict:
        return {**asdict(self), "text": self.text()}

    def text(self) -> str:
        """The draft as plain text: sections, sentences with [n] citations and marks, then the sources."""
        if self.status != "ok":
            return self.message
        lines = [] if self.findings or self.impression else [NO_TEXT]
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


def _sources(index, hit: CaseHit, sections: tuple[str, ...]) -> list[str]:
    texts = [hit.sections[name] for name in sections if hit.sections.get(name)]
    if not texts and not hit.sections and sections == FINDINGS_SECTIONS:
        texts = [item.text for item in hit.items if item.text]  # a case without case text: its items' texts
    return [s for text in texts for s in split_sentences(text)]


def compose(hits: list[CaseHit], max_sentences: int = MAX_SENTENCES) -> tuple[list[DraftSentence], list[DraftSentence], list[Citation]]:
    """Findings, impression and citations from ranked case hits (scores = similarity to the query)."""
    citations = [Citation(i + 1, h.archive, h.case, h.case_id, float(h.item_score if h.item_score is not None else h.score),
                          h.licence, h.diagnosis, h.title) for i, h in enumerate(hits)]
    candidates = []  # (citation number, sentence, assertion, words, position)
    for citation, hit in zip(citations, hits):
        for position, sentence in enumerate(_sources(None, hit, FINDINGS_SECTIONS)):
            mark, negated = assertion_and_negated(sentence)
            candidates.append((citation, sentence, (mark, tuple(negated)), words(sentence), position))
    scored = []
    for citation, sentence, mark, bag, position in candidates:
        support = sorted({other.number for other, s2, m2, b2, _ in candidates
                          if other.number != citation.number and m2[0] == mark[0] and jaccard(bag, b2) >= SUPPORT_JACCARD})
        if citation.number != 1 and not support:
            continue
        scored.append((citation.score * (1 + len(support)), -citation.number, -position, citation, sentence, mark,
                       bag, support))
    scored.sort(key=lambda row: row[:3], reverse=True)
    findings, bags = [], []
    for score, _, _, citation, sentence, mark, bag, support in scored:
        if len(findings) == max_sentences:
            break
        if any(jaccard(bag, other) >= DUPLICATE_JACCARD for other in bags) or sentence in {f.text for f in findings}:
            continue
        bags.append(bag)
        findings.append(DraftSentence(sentence, "findings", mark[0], citation.number, support, float(score),
                                      list(mark[1])))
    impression: list[DraftSentence] = []
    for citation, hit in zip(citations, hits):
        sentences = _sources(None, hit, IMPRESSION_SECTIONS) or ([hit.diagnosis] if hit.diagnosis else [])
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
    findings, impression, citations = compose(close, max_sentences)
    message = f"draft from {len(citations)} similar case(s)" + ("" if findings or impression else f"; {NO_TEXT}")
    return Draft("ok", message, best, threshold, findings, impression, citations)


def draft_report(index, image, filters=None, **options) -> Draft:
    """A draft for an image (path, bytes or PIL image): its nearest cases by image."""
    return draft_from_vector(index, index.embed_image(image), target="image", filters=filters, **options)
