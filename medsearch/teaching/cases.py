"""Search by case: one hit per case, with the case's best images (or reports) and its text.

How a case is ranked:
- every query searches the items (images or reports, as ``target`` says) with a candidate pool of
  ``POOL_PER_HIT`` x k hits, grouped by case; a case's item score is its best item's similarity;
- a text query also searches the case texts (history, findings, diagnosis) densely and lexically (BM25 on
  non-negated clinical terms, ``medsearch.teaching.case_lexical``), and the rankings are fused by reciprocal rank
  (``RRF_K``): similarity scales differ between text->image, text->text and BM25, ranks do not;
- a case's shown items are all of its items (that pass the filters) ranked by their own similarity to the query.
An item that names no case is a case of its own, with no case text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from medsearch.errors import BadQuery
from medsearch.search import SearchResult, as_filters, check_k
from medsearch.teaching.groups import ITEM_PREFIX, case_key

POOL_PER_HIT = 10  # item candidates per requested case
MIN_POOL = 50
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009)
IMAGES_PER_CASE = 3


@dataclass
class CaseHit:
    rank: int
    score: float  # the fused score for text queries, else the best item similarity
    archive: str
    case: str  # the case key (MedPix U_id...), or the item key of an item that names no case
    title: str | None = None
    diagnosis: str | None = None
    sections: dict = field(default_factory=dict)  # history, exam, findings, differential, diagnosis...
    labels: list[str] = field(default_factory=list)
    licence: str | None = None
    split: str | None = None
    case_id: int | None = None  # the stored case row, None for a grouping without case text
    item_score: float | None = None  # best item similarity
    case_score: float | None = None  # similarity of the case text (text queries)
    items: list[SearchResult] = field(default_factory=list)  # best first
    n_items: int = 0  # items of the case in the index

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def is_case(self) -> bool:
        return not self.case.startswith(ITEM_PREFIX)


def _pool_size(index, k: int, target: str) -> int:
    entry = index.manifest.modalities.get(target)
    total = entry.count if entry is not None else 0
    return max(1, min(max(MIN_POOL, POOL_PER_HIT * k), total or MIN_POOL))


def case_text_scores(index, vector: np.ndarray, limit: int) -> list[tuple[tuple[str, str], float]]:
    """((archive, case key), similarity) of the ``limit`` case texts closest to a text-space query vector."""
    cache = index.derived("case_vectors")
    if "matrix" not in cache:
        cache["keys"], cache["matrix"] = index.store.case_vectors(index.manifest.dim)
    keys, matrix = cache["keys"], cache["matrix"]
    if not keys:
        return []
    scores = matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(keys[i], float(scores[i])) for i in order]


def item_scores(index, vector: np.ndarray, records, target: str) -> list[tuple[float, object]]:
    """(similarity, record) for records that have a ``target`` vector, best first."""
    scored = []
    for record in records:
        vector_id = record.image_vector_id if target == "image" else record.text_vector_id
        if vector_id is None:
            continue
        try:
            stored = index.stored_vector(target, vector_id)
        except BadQuery:
            continue
        scored.append((float(stored @ vector), record))
    scored.sort(key=lambda pair: -pair[0])
    return scored


def search_cases(index, vector, target: str = "image", k: int = 10, filters=None, case_vector=None,
                 images_per_case: int = IMAGES_PER_CASE, pool: int | None = None,
                 exclude: set | None = None, lexical_query: str | None = None, hits=None) -> list[CaseHit]:
    """Top ``k`` cases for a query vector (in ``target``'s space). ``case_vector`` (a text-space vector of a text
    query) also ranks the case texts densely, ``lexical_query`` lexically. ``exclude``: (archive, case) keys to
    leave out (the query's own case). ``hits``: the item pool when the caller already ranked it (a text query
    through the index's own, possibly hybrid, text search); else ``vector`` searches ``target``."""
    check_k(k)
    filters = as_filters(filters)
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    exclude = exclude or set()
    pool = pool or _pool_size(index, k, target)
    if hits is None:
        hits = index.search_vector(vector, k=pool, target=target, filters=filters)
    best_item: dict[tuple[str, str], float] = {}
    for hit in hits:
        key = case_key(hit)
        if key not in exclude:
            best_item.setdefault(key, hit.score)
    item_rank = {key: r for r, key in enumerate(best_item)}
    text_scores: dict[tuple[str, str], float] = {}
    if case_vector is not None:
        text_scores = {key: s for key, s in case_text_scores(index, case_vector, pool) if key not in exclude}
    text_rank = {key: r for r, key in enumerate(text_scores)}
    lexical_rank = {}
    if lexical_query:
        from medsearch.teaching.case_lexical import lexical_case_scores

        found = [key for key, _ in lexical_case_scores(index, lexical_query, pool) if key not in exclude]
        lexical_rank = {key: r for r, key in enumerate(found)}
    if text_scores or lexical_rank:
        rankings = (item_rank, text_rank, lexical_rank)
        fused = {key: sum(1.0 / (RRF_K + 1 + ranks[key]) for ranks in rankings if key in ranks)
                 for key in {*item_rank, *text_rank, *lexical_rank}}
    else:
        fused = {key: best_item[key] for key in item_rank}
    order = sorted(fused, key=lambda key: (-fused[key], -text_scores.get(key, -2.0), -best_item.get(key, -2.0), key))
    results: list[CaseHit] = []
    stored_cases = index.store.cases([key for key in order[: 3 * k] if not key[1].startswith(ITEM_PREFIX)])
    for key in order:
        if len(results) == k:
            break
        hit = _case_hit(index, key, stored_cases.get(key), vector, target, filters, images_per_case, hits)
        if hit is None:
            continue
        hit.score = fused[key]
        hit.item_score = best_item.get(key, hit.item_score)
        hit.case_score = text_scores.get(key)
        hit.rank = len(results) + 1
        results.append(hit)
    return results


def _case_hit(index, key, stored, vector, target, filters, images_per_case, hits) -> CaseHit | None:
    archive, case = key
    if case.startswith(ITEM_PREFIX):
        records = [h for h in hits if case_key(h) == key][:1]
        items = [replace(h, rank=1) for h in records]
        best = items[0].score if items else None
        first = items[0] if items else None
        return CaseHit(rank=0, score=best or 0.0, archive=archive, case=case, item_score=best, items=items,
                       n_items=len(items), licence=first.licence if first else None,
                       split=first.split if first else None, labels=list(first.labels) if first else [])
    records = index.store.case_items(archive, case)
    if filters is not None:
        records = [r for r in records if filters.matches(r)]
    if not records:
        return None  # no item of the case passes the filters (or the case has no items left)
    scored = item_scores(index, vector, records, target)
    items = [SearchResult.from_record(i + 1, score, target, record)
             for i, (score, record) in enumerate(scored[:images_per_case])]
    if not items:  # the case's items have no vectors of this kind: show them unscored
        items = [SearchResult.from_record(i + 1, 0.0, target, r) for i, r in enumerate(records[:images_per_case])]
    licences = sorted({r.licence for r in records if r.licence})
    return CaseHit(
        rank=0, score=0.0, archive=archive, case=case,
        title=stored.title if stored else None, diagnosis=stored.diagnosis if stored else None,
        sections=dict(stored.sections) if stored else {}, labels=list(stored.labels) if stored else [],
        licence=(stored.licence if stored and stored.licence else "; ".join(licences) or None),
        split=stored.split if stored else records[0].split, case_id=stored.case_id if stored else None,
        item_score=scored[0][0] if scored else None, items=items, n_items=len(records),
    )


def search_cases_text(index, query: str, k: int = 10, target: str = "image", filters=None, **options) -> list[CaseHit]:
    """A text query by case: items of ``target`` (through the index's own text search, hybrid where it has a
    lexical index) and the case texts (dense and lexical), fused by rank."""
    vector = index.embed_text(query, target=target)
    case_vector = index.embed_text(query, target="text") if target != "text" else vector
    pool = options.pop("pool", None) or _pool_size(index, k, target)
    hits = index.search_text(query, k=pool, target=target, filters=filters)
    return search_cases(index, vector, target=target, k=k, filters=filters, case_vector=case_vector,
                        lexical_query=query, hits=hits, pool=pool, **options)


def search_cases_image(index, image, k: int = 10, target: str = "image", filters=None, **options) -> list[CaseHit]:
    """An image query by case: nearest items of ``target`` (images by default: image->image), grouped."""
    return search_cases(index, index.embed_image(image), target=target, k=k, filters=filters, **options)


def case_view(index, archive: str, case: str) -> dict:
    """Everything the case view shows: the case text and every item of the case (never patient keys)."""
    records = index.store.case_items(archive, case)
    stored = index.store.cases([(archive, case)]).get((archive, case))
    if stored is None and not records:
        from medsearch.errors import CaseNotFound

        raise CaseNotFound(f"no case {case!r} in archive {archive!r}")
    items = [SearchResult.from_record(i + 1, 0.0, "image", r).to_dict() for i, r in enumerate(records)]
    return {
        "archive": archive, "case": case, "case_id": stored.case_id if stored else None,
        "title": stored.title if stored else None, "diagnosis": stored.diagnosis if stored else None,
        "sections": dict(stored.sections) if stored else {}, "labels": list(stored.labels) if stored else [],
        "licence": stored.licence if stored else None, "split": stored.split if stored else None,
        "items": items,
    }
