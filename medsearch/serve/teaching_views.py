"""What the page sees of cases and differentials (items through ``views.hit_view``: no paths, no
patient data; case extra reduced to safe metadata)."""

from __future__ import annotations

from medsearch.serve.views import hit_view, rounded, safe_metadata


def case_hit_view(hit) -> dict:
    return {
        "rank": hit.rank, "score": rounded(hit.score), "archive": hit.archive, "case": hit.case,
        "case_id": hit.case_id, "title": hit.title, "diagnosis": hit.diagnosis, "sections": dict(hit.sections),
        "labels": list(hit.labels), "licence": hit.licence, "split": hit.split,
        "item_score": rounded(hit.item_score), "case_score": rounded(hit.case_score),
        "n_items": hit.n_items, "items": [hit_view(item) for item in hit.items],
    }


def case_page_view(view: dict) -> dict:
    """``medsearch.teaching.cases.case_view`` output for the page: items as hits, safe metadata only."""
    from types import SimpleNamespace

    items = []
    for i, item in enumerate(view["items"]):
        hit = hit_view(SimpleNamespace(**{**item, "rank": i + 1}))
        hit["metadata"] = safe_metadata(item.get("extra"))
        hit["text"] = item.get("text") or ""
        items.append(hit)
    return {**{k: v for k, v in view.items() if k != "items"}, "items": items}
