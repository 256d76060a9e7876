"""Hybrid ranking: the lexical ranking (full-text index, by clause), fusion with the dense ranking, and the
assertion correction of either.

Fusion is weighted reciprocal rank fusion, score = w_dense / (c + rank_dense) + w_lexical / (c + rank_lexical)
(a list an item is missing from adds nothing). The settings in DEFAULT_FUSION were chosen on the tuning half of
the judged queries of ``medsearch bench search`` (benchmarks/README.md, "Search quality"), never the test half.

Hybrid order: the items whose text matches the whole query strictly (every finding, in the right status and
side, in one sentence; assertion off: in any status) come first, in fused order (those on the side the query
states before those that satisfy it through a bilateral mention), then the rest in fused order: a text that says what was asked is a stronger hit than one that only embeds nearby, and items without
text stay reachable through their vectors.

Assertion correction: each candidate's status for each finding of the query (asserted, negated, uncertain,
historical or absent, from its indexed sentences) gives a tier (medsearch.lexical.query.TIERS; 0 answers the
query, 2 contradicts it); candidates are ordered by tier first, then by score. So a positive query never ranks a
"No pneumothorax." report above one that does not deny it, and "no pneumothorax" never ranks a report asserting
one above the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from medsearch.lexical.query import Clause, decide, tier

MODES = ("dense", "lexical", "hybrid")
DEFAULT_MODE = "hybrid"


@dataclass(frozen=True)
class FusionSettings:
    rrf_k: float = 10.0
    dense_weight: float = 1.0
    lexical_weight: float = 2.0
    depth: int = 100  # candidates taken from each ranking before fusion


# Chosen by `medsearch bench search --tune` (model medsearch-default@106306cd0ec4) on the tuning half of the
# judged queries, hybrid with negation, mean nDCG@10. IU X-ray MeSH: rrf_k 10 with lexical weight 0.5, 1, 2, 4 ->
# 0.685, 0.779, 0.846, 0.844; rrf_k 60 -> 0.749, 0.809, 0.844, 0.844. ROCO concepts: rrf_k 10 -> 0.259, 0.604,
# 0.825, 0.822; rrf_k 60 -> 0.470, 0.692, 0.808, 0.818. See benchmarks/README.md ("Search quality").


DEFAULT_FUSION = FusionSettings()


def rrf(rankings: dict[str, list[int]], weights: dict[str, float], c: float) -> dict[int, float]:
    fused: dict[int, float] = {}
    for name, ids in rankings.items():
        for rank, vid in enumerate(ids, start=1):
            fused[vid] = fused.get(vid, 0.0) + weights[name] / (c + rank)
    return fused


def lexical_ranking(store, target: str, clauses: list[Clause], filters, depth: int, k: int
                    ) -> tuple[list[tuple[int, float]], dict[int, int], dict[int, int]]:
    """([(item id, lexical score)] best first, {item id: vector id}, {item matching every clause: 0 when on the
    side the query states, 1 when only a bilateral mention satisfies it}): items matching every clause, then
    those matching more clauses (scores summed); when fewer than ``k`` match strictly, items with a sentence
    holding most of a clause by information (and the query's sides; medsearch.lexical.query.relaxed_alternatives)
    come after."""
    vector_ids: dict[int, int] = {}
    if not clauses:
        return [], vector_ids, {}

    def run(clause, relaxed=False) -> dict[int, float]:
        found = store.lexical_search(target, clause, filters=filters, limit=pool, relaxed=relaxed)
        vector_ids.update({item: vid for item, vid, _ in found})
        return {item: score for item, _, score in found}

    pool = max(2 * depth, 200)
    per_clause = [run(c) for c in clauses]
    scores: dict[int, tuple[int, float]] = {}
    for found in per_clause:
        for vid, score in found.items():
            n, total = scores.get(vid, (0, 0.0))
            scores[vid] = (n + 1, total + score)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    out = [(vid, total) for vid, (_, total) in ranked]
    strict = {vid for vid, (n, _) in scores.items() if n == len(clauses)}
    strict = _on_the_stated_side(store, clauses, strict)
    if len(out) < k:
        seen = set(scores)
        relaxed: dict[int, float] = {}
        for clause in clauses:
            for vid, score in run(clause, relaxed=True).items():
                if vid not in seen:
                    relaxed[vid] = relaxed.get(vid, 0.0) + score
        out += sorted(relaxed.items(), key=lambda kv: (-kv[1], kv[0]))
    return out[:pool], vector_ids, strict


def _on_the_stated_side(store, clauses: list[Clause], strict: set[int]) -> dict[int, int]:
    """{strict item: 0 on the stated side (or the query states none), 1 bilateral only}: one full-text query
    more, and only when the query states a side."""
    narrowed = [c.one_sided() for c in clauses]
    if not strict or all(c is None for c in narrowed):
        return dict.fromkeys(strict, 0)
    sided = set(strict)
    for found in store.lexical_items([c for c in narrowed if c is not None]):
        sided &= found
    return {item: 0 if item in sided else 1 for item in strict}


# the store's column set for each status a text can give a finding (see medsearch.store.lexical.STATUS_COLUMNS)
_FOUND_AS = {"asserted": "asserted only", "negated": "negated", "uncertain": "uncertain", "historical": "historical"}


def assertion_sets(store, clauses: list[Clause]) -> list[dict[str, set[int]]]:
    """Per clause, status -> the items whose text has the clause's finding in that status, whatever the target
    (one statement: a full-text query per clause and status; the same sentence-level match as
    medsearch.lexical.query.match_clause): by the finding's own wordings, and, for an item whose text has none of
    them, by the broader wordings it reads in that status (Clause.readings: one query more per status that has
    any)."""
    import dataclasses

    queries = [dataclasses.replace(c, status=column, through=()) for c in clauses for column in _FOUND_AS.values()]
    broader = [(n, status, dataclasses.replace(c, status=column, variants=(), through=c.readings_by_status[status]))
               for n, c in enumerate(clauses) for status, column in _FOUND_AS.items() if c.readings_by_status[status]]
    found = iter(store.lexical_items(queries + [query for _, _, query in broader]))
    sets = [{status: next(found) for status in _FOUND_AS} for _ in clauses]
    named = [set().union(*found_as.values()) for found_as in sets]  # items whose text names the finding itself
    for (n, status, _), items in zip(broader, found):
        sets[n][status] |= items - named[n]
    return sets


def tier_from_sets(clauses: list[Clause], sets: list[dict[str, set[int]]], item: int) -> int:
    from medsearch.lexical.query import ClauseMatch

    worst = 0
    for clause, found in zip(clauses, sets):
        match = ClauseMatch({status for status, items in found.items() if item in items}, [])
        worst = max(worst, tier(clause, decide(clause, match)))
    return worst
