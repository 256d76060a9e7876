"""Looks similar, different diagnosis: the nearest cases by image whose diagnosis (or labels) differ from a
reference, i.e. the differentials that look alike.

The reference is, in order: the diagnosis the caller names; the query's own case (a query by an indexed item or
case); else the nearest case's diagnosis (an image from outside the index is taken to be what it most resembles,
and that case is reported as the reference).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from medsearch.errors import BadQuery
from medsearch.teaching.cases import CaseHit, search_cases
from medsearch.teaching.diagnosis import same_case_kind
from medsearch.teaching.groups import case_key

POOL_CASES = 8  # cases searched per case returned: most near neighbours share the diagnosis


@dataclass
class Differential:
    reference_diagnosis: str | None
    reference_labels: list[str]
    reference_source: str  # "given", "query case <key>", "nearest case <key>"
    hits: list[CaseHit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def different_diagnosis(index, vector, k: int = 10, target: str = "image", filters=None, diagnosis: str | None = None,
                        query_case: tuple[str, str] | None = None) -> Differential:
    """Nearest cases to an image-space vector whose diagnosis differs from the reference (see module doc)."""
    exclude = {query_case} if query_case else set()
    hits = search_cases(index, vector, target=target, k=POOL_CASES * k, filters=filters, exclude=exclude,
                        images_per_case=2)
    reference_labels: list[str] = []
    if diagnosis:
        source = "given"
    elif query_case is not None:
        stored = index.store.cases([query_case]).get(query_case)
        diagnosis = stored.diagnosis if stored else None
        reference_labels = list(stored.labels) if stored else []
        source = f"query case {query_case[1]}"
    elif hits:
        nearest = hits[0]
        diagnosis, reference_labels = nearest.diagnosis, list(nearest.labels)
        source = f"nearest case {nearest.case}"
    else:
        return Differential(None, [], "no cases", [])
    if not diagnosis and not reference_labels:
        raise BadQuery(f"the reference ({source}) has no diagnosis or labels to differ from",
                       hint="name one with --diagnosis TEXT")
    different = [h for h in hits if not same_case_kind(diagnosis, reference_labels, h.diagnosis, h.labels)
                 and (h.diagnosis or h.labels)]
    for rank, hit in enumerate(different[:k], start=1):
        hit.rank = rank
    return Differential(diagnosis, reference_labels, source, different[:k])


def different_diagnosis_for_image(index, image, k: int = 10, filters=None, diagnosis: str | None = None):
    return different_diagnosis(index, index.embed_image(image), k=k, filters=filters, diagnosis=diagnosis)


def different_diagnosis_for_item(index, item_id: int, k: int = 10, filters=None, diagnosis: str | None = None):
    """For an indexed item: its own image vector, its own case left out and used as the reference."""
    record = index.item(item_id)
    if record.image_vector_id is None:
        raise BadQuery(f"item {item_id} has no image to compare by", hint="pick an item with an image")
    vector = index.stored_vector("image", record.image_vector_id)
    return different_diagnosis(index, vector, k=k, filters=filters, diagnosis=diagnosis, query_case=case_key(record))
