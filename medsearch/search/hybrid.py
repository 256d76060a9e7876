"""A text query: its full-text work (lexical ranking, assertion sets) in a thread while it is embedded, its dense
ranking, and the fusion of the two (weighted RRF, assertion tiers, strict lexical matches first), explained."""

from __future__ import annotations

import dataclasses
import time

from medsearch.search.dense import ranked
from medsearch.search.outcome import SearchOutcome
from medsearch.search.result import SearchResult

PREPARED_HITS = 1  # x k: the lexical top whose records and explanations are made while the query is embedded


def search_text(index, query: str, k: int, target: str, filters, plan: str, mode: str, ensemble: bool, expand: bool,
                negation: bool, fusion) -> SearchOutcome:
    """A text query (``Index.search`` documents the arguments, checked there: a canonical target, k >= 1,
    Filters or None, a known plan and mode, FusionSettings)."""
    from medsearch.lexical.query import parse

    start = time.perf_counter()
    lexical_query = parse(query, expand=expand)
    clauses = lexical_query.clauses if negation else [dataclasses.replace(c, status="any") for c in lexical_query.clauses]
    depth = max(k, fusion.depth)
    rankings: dict[str, list[tuple[int, float]]] = {}  # item id, score
    records: dict[int, object] = {}  # item id -> ItemRecord of the dense hits the ranking fetched (filtered)
    vector_ids: dict[int, int] = {}  # item id -> vector id of ``target``, to fetch the records kept
    strict: dict[int, int] = {}  # items whose text matches the whole query: 0 on the stated side, 1 bilateral
    timings: dict[str, float] = {}
    lexical_job, dense_plan = None, None
    if mode in ("lexical", "hybrid") or (negation and clauses):
        # the full-text work (the lexical ranking; which items assert or deny each finding of the query) runs
        # in a thread while the query is embedded (onnxruntime releases the GIL)
        from medsearch.query.fusion import assertion_sets, lexical_ranking

        beside = mode != "lexical" and not in_memory(index.db_url)  # in memory: one shared connection, no thread

        def lexical_search(store):
            lexical_start = time.perf_counter()
            found = (lexical_ranking(store, target, clauses, filters, depth, k)
                     if mode != "dense" else ([], {}, {}))
            sets = assertion_sets(store, clauses) if negation and clauses else None
            # while the query is still being embedded, the likely hits are made ready: most of a hybrid top k
            # is the lexical top (its weight is twice the dense one's), and the rest is fetched after fusion
            ready = prepared_hits(store, target, found, clauses, PREPARED_HITS * k) if beside else {}
            return store, (found, sets, ready, time.perf_counter() - lexical_start)

        def lexical_search_of_the_current_store():
            index._refresh()  # a writer may have swapped in another database since the last query
            return lexical_search(index.store)

        lexical_job = (index._lexical_pool().submit(lexical_search_of_the_current_store) if beside
                       else Done(lexical_search_of_the_current_store()))
    if mode in ("dense", "hybrid"):
        index._load_in_background(target)
        embedded = index.embed_query(query, target=target, ensemble=ensemble, expand=expand)
        searched_for, encode_s = embedded.text, time.perf_counter() - start
        dense_depth = depth if (mode == "hybrid" or (negation and clauses)) else k
        dense = ranked(index, embedded.vector, dense_depth, target, filters, plan, encode_s, light=True)
        timings.update(dense.timings)
        dense_plan = dense.plan
        # rankings are fused by item id: vector ids are the store's concern (and change on compaction);
        # unfiltered, the ranking returned item ids only, and the records of the k kept are fetched at the end
        rankings["dense"] = []
        for vid, score, found in dense.ranked:
            item_id = found if isinstance(found, int) else found.item_id
            vector_ids[item_id] = vid
            rankings["dense"].append((item_id, score))
            if not isinstance(found, int):
                records[item_id] = found  # made a hit only if kept (see fuse)
    else:
        searched_for = lexical_query.text
    sets, ready = None, {}
    store = index.store  # the database the dense ranking read; the hits' records are fetched from it
    if lexical_job is not None:
        searched, lexical = lexical_job.result()
        if searched is not store:
            # a writer swapped in another database during this query: the item and vector ids the full-text
            # work found are the old one's, which the new one may give to other items, so it is done again
            lexical = lexical_search(store)[1]
        (found, lexical_vectors, strict), sets, ready, timings["lexical"] = lexical
        if mode != "dense":
            rankings["lexical"] = found
        vector_ids = {**lexical_vectors, **vector_ids}
    hits = fuse(store, rankings, records, ready, vector_ids, strict if mode == "hybrid" else None, clauses,
                sets, k, target, mode, fusion, timings)
    timings["total"] = time.perf_counter() - start
    for hit in hits:
        hit.searched_for = searched_for
    return SearchOutcome(tuple(hits), dense_plan, timings, searched_for)


def prepared_hits(store, target: str, lexical, clauses, n: int) -> dict[int, tuple[object, object]]:
    """{item id: (ItemRecord, Explanation)} for the first ``n`` items of a lexical ranking (``lexical_ranking``'s
    answer), fetched by vector id like the hits in ``fuse`` (an item gone since has none)."""
    from medsearch.lexical.explain import explain

    ranked, vector_ids, _ = lexical
    top = [vector_ids[item] for item, _ in ranked[:n] if item in vector_ids]
    fetched = store.records(target, top) if top else {}
    return {r.item_id: (r, explain(r.text, clauses)) for r in fetched.values()}


def fuse(store, rankings, dense_records, ready, vector_ids, strict, clauses, sets, k, target, mode, fusion,
         timings) -> list[SearchResult]:
    """One ranking (or the RRF of two), grouped by assertion tier (and, hybrid, strict lexical match first),
    cut to k, with explanations (``ready``: those ``prepared_hits`` made already). Groups are computed in fused
    order, a batch at a time, only until k candidates of the best group are known: nothing further down can
    overtake them."""
    from medsearch.lexical.explain import explain
    from medsearch.query.fusion import rrf, tier_from_sets

    fuse_start = time.perf_counter()
    order = [name for name in ("dense", "lexical") if name in rankings]
    if len(order) == 2:
        fused = rrf({n: [v for v, _ in rankings[n]] for n in order},
                    {"dense": fusion.dense_weight, "lexical": fusion.lexical_weight}, fusion.rrf_k)
    else:
        fused = {v: float(s) for v, s in rankings[order[0]]}
    own = {n: dict(rankings[n]) for n in order}
    ids = sorted(fused, key=lambda v: (-fused[v], v))
    groups: dict[int, int] = {}
    step = max(2 * k, 20)
    for start in range(0, len(ids), step):
        batch = ids[start:start + step]
        for v in batch:
            tier = tier_from_sets(clauses, sets, v) if sets is not None else 0
            groups[v] = 3 * tier + _strictness(strict, v)
        # the candidates not yet seen score lower; none can be in a better group than `floor`, so once k
        # seen ones are in `floor` or better, the top k is settled
        floor = min((_strictness(strict, v) for v in ids[start + step:]), default=0)
        if sum(1 for g in groups.values() if g <= floor) >= k:
            break
    in_order = sorted(groups, key=lambda v: (groups[v], -fused[v], v))
    levels = {g: i for i, g in enumerate(sorted(set(groups.values()), reverse=True))}  # the worst group: 0
    if len(levels) > 1:
        # a hit in an earlier group scores above every hit of a later one (scores stay monotonic): earlier
        # groups get a bonus rather than later ones a penalty, so no score shown to a user goes below zero
        span = 1.0 + max(fused.values()) - min(fused.values())
        fused = {v: fused[v] + span * levels[groups[v]] for v in in_order}
    timings["assertion"] = time.perf_counter() - fuse_start
    timings["records"] = 0.0
    hits: list[SearchResult] = []
    done = 0
    while len(hits) < k and done < len(in_order):
        # the records of the next few in order, fetched by vector id: this is also the liveness check of the
        # hits (an item deleted or re-embedded since it was ranked has no row for that vector and is skipped)
        batch = in_order[done:done + k - len(hits) + 5]
        done += len(batch)
        records_start = time.perf_counter()
        wanted = [v for v in batch if v not in dense_records and v not in ready and v in vector_ids]
        fetched = store.records(target, [vector_ids[v] for v in wanted]) if wanted else {}
        records = {r.item_id: r for r in fetched.values()}
        records.update({v: ready[v][0] for v in batch if v in ready})
        timings["records"] += time.perf_counter() - records_start
        for vid in batch:
            if len(hits) == k:
                break
            record = dense_records[vid] if vid in dense_records else records.get(vid)
            if record is None:
                continue  # removed since it was ranked
            hit = SearchResult.from_record(0, 0.0, target, record)
            why = ready[vid][1] if vid in ready else explain(hit.text, clauses)
            hit.rank, hit.score, hit.mode = len(hits) + 1, float(fused[vid]), mode
            hit.dense_score = own.get("dense", {}).get(vid)
            hit.lexical_score = own.get("lexical", {}).get(vid)
            hit.matched_terms, hit.snippet, hit.highlights = why.matched_terms, why.snippet, why.highlights
            hit.assertion = why.assertion
            hits.append(hit)
    timings["fuse"] = time.perf_counter() - fuse_start
    return hits


def _strictness(strict: dict[int, int] | None, item: int) -> int:
    """0: the text says the whole query on the stated side, 1: only through a bilateral mention, 2: not the whole
    query; 0 for every item when strictness does not count (not hybrid)."""
    return 0 if strict is None else strict.get(item, 2)


class Done:
    """A finished job (the lexical search when it ran in the caller's thread)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def in_memory(db_url: str) -> bool:
    """An in-memory SQLite URL (any driver): the store keeps one shared connection for it (store/engine.py), so
    the full-text work must not run in a second thread. Parsed by hand: SQLAlchemy may not be imported yet."""
    scheme, _, rest = db_url.partition("://")
    return scheme.split("+")[0].rstrip(":") == "sqlite" and rest.split("?")[0].lstrip("/") in ("", ":memory:")
