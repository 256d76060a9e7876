"""Lexical search over case texts: BM25 on the clinical terms of ``medsearch.lexical`` (same tokeniser and
assertion rules as the item full-text index), counting only terms that are not negated, so a case that says
"no pneumothorax" does not match "pneumothorax". The indexer stores each case's term counts with the case
(``extra["lexical_terms"]``; ``--reanalyse`` computes them again); the BM25 index is built in memory from them on
the first lexical case query and kept with the open Index until it reopens on a new manifest (``Index.derived``;
cases are few next to images). A case stored without them is analysed then.
"""

from __future__ import annotations

import math
from collections import Counter

from medsearch.lexical.assertion import analyse
from medsearch.lexical.tokens import terms as query_terms

K1, B = 1.2, 0.75
TERMS_KEY = "lexical_terms"
COUNTED = ("asserted", "uncertain", "historical")


def case_terms(text: str | None) -> Counter:
    return Counter(t.term for s in analyse(text or "") for t in s.terms if t.status in COUNTED)


class CaseLexicon:
    def __init__(self, docs: dict[tuple[str, str], Counter]):
        self.docs = docs
        self.lengths = {key: sum(c.values()) for key, c in docs.items()}
        self.average = (sum(self.lengths.values()) / len(docs)) if docs else 0.0
        self.df = Counter(term for c in docs.values() for term in c)

    @classmethod
    def from_store(cls, store) -> "CaseLexicon":
        docs = {}
        for key, (text, extra) in store.case_texts().items():
            stored = extra.get(TERMS_KEY)
            docs[key] = Counter(stored) if isinstance(stored, dict) else case_terms(text)
        return cls(docs)

    def search(self, query: str, limit: int) -> list[tuple[tuple[str, str], float]]:
        wanted = [t for t in dict.fromkeys(query_terms(query)) if t in self.df]
        if not wanted:
            return []
        n = len(self.docs)
        scores: dict[tuple[str, str], float] = {}
        for term in wanted:
            idf = math.log(1 + (n - self.df[term] + 0.5) / (self.df[term] + 0.5))
            for key, counts in self.docs.items():
                tf = counts.get(term, 0)
                if tf:
                    norm = tf + K1 * (1 - B + B * self.lengths[key] / (self.average or 1))
                    scores[key] = scores.get(key, 0.0) + idf * tf * (K1 + 1) / norm
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def lexical_case_scores(index, query: str, limit: int) -> list[tuple[tuple[str, str], float]]:
    cache = index.derived("case_lexicon")
    if "lexicon" not in cache:
        cache["lexicon"] = CaseLexicon.from_store(index.store)
    return cache["lexicon"].search(query, limit)
