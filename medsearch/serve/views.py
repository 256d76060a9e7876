"""What the page may see of a result or an item: safe metadata only, no server paths, no patient data."""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath

from medsearch.archives.modality import canonical_modality, modality_label
from medsearch.concepts import named_labels
from medsearch.privacy import PHI_KEYWORDS

SNIPPET_CHARS = 240
# Keys that never leave the server, compared after lower-casing and dropping '_', '-' and spaces, so that
# "PatientName", "patient_name" and "Patient Name" all match.
_HIDDEN = {k.lower() for k in PHI_KEYWORDS} | {"patient", "patientkey", "patientid", "imagepath", "path",
                                               "sourcepath", "filepath", "absolutepath"}
ATTRIBUTION_KEYS = ("attribution", "source", "pmc_id", "pmcid", "doi", "url", "citation", "image_relpath")


def _norm(key: str) -> str:
    return re.sub(r"[\s_\-]", "", str(key)).lower()


def _looks_like_absolute_path(value: str) -> bool:
    return " " not in value and (PurePosixPath(value).is_absolute() or PureWindowsPath(value).drive != "")


def _json_safe(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return safe_metadata(value)
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    return str(value)


def safe_metadata(extra: dict | None) -> dict:
    """``extra`` without PHI keys (at any depth) and without absolute paths."""
    out = {}
    for key, value in (extra or {}).items():
        if _norm(key) in _HIDDEN:
            continue
        if isinstance(value, str) and _looks_like_absolute_path(value):
            continue
        out[str(key)] = _json_safe(value)
    return out


def snippet(text: str | None, limit: int = SNIPPET_CHARS) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def thumbnail_url(item_id: int) -> str:
    return f"/api/items/{item_id}/thumbnail"


def rounded(score) -> float | None:
    """A score as the page shows it: 4 decimals (None stays None)."""
    return None if score is None else round(float(score), 4)


def _explanation(result) -> dict:
    """The hit's match explanation (text searches), with the snippet it highlights."""
    if not result.mode:
        return {}
    return {
        "snippet": result.snippet or snippet(result.text),
        "highlights": [list(span) for span in (result.highlights if result.snippet else [])],
        "mode": result.mode,
        "dense_score": rounded(result.dense_score),
        "lexical_score": rounded(result.lexical_score),
        "matched_terms": list(result.matched_terms),
        "assertion": dict(result.assertion),
    }


def _item_summary(record) -> dict:
    """What a hit and an item detail both show of the item (``Hit`` and ``ItemDetail`` share ``ItemSummary``)."""
    has_image = record.image_path is not None
    return {
        "item_id": int(record.item_id),
        "key": record.key,
        "labels": list(record.labels or []),
        "concepts": named_labels(record.labels or []),
        "licence": record.licence,
        "modality": canonical_modality(record.modality),
        "split": record.split,
        "has_image": has_image,
        "thumbnail_url": thumbnail_url(record.item_id) if has_image else None,
    }


def hit_view(result) -> dict:
    return {
        "rank": result.rank,
        "score": rounded(result.score),
        **_item_summary(result),
        "target": result.target,
        "snippet": snippet(result.text),
        **_explanation(result),
    }


def attribution(record) -> dict:
    meta = safe_metadata(record.extra)
    found = {k: meta[k] for k in ATTRIBUTION_KEYS if meta.get(k) not in (None, "")}
    return {"archive": record.archive, "key": record.key, "licence": record.licence, **found}


def item_view(record) -> dict:
    return {
        **_item_summary(record),
        "archive": record.archive,
        "case": record.case,
        "text": record.text or "",
        "metadata": safe_metadata(record.extra),
        "attribution": attribution(record),
    }


# the page's facet name -> the store's (``Store.facets``: {value: item count}, most frequent first)
FACETS = {"modality": "modalities", "findings": "findings", "body_regions": "body_regions", "labels": "labels",
          "split": "splits", "licence": "licences"}


def facets_view(facets: dict[str, dict[str, int]]) -> dict[str, list[dict]]:
    """The store's facets as the filters offer them: [{"value", "count"[, "label"]}], most frequent first; a
    modality code carries its display name ("XR" -> "X-ray")."""
    out = {}
    for name, source in FACETS.items():
        values = [{"value": str(value), "count": count} for value, count in (facets.get(source) or {}).items()
                  if value not in (None, "")]
        out[name] = sorted(values, key=lambda f: (-f["count"], f["value"]))
    for value in out["modality"]:
        label = modality_label(value["value"])
        if label and label != value["value"]:
            value["label"] = label
    return out
