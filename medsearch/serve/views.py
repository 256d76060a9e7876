"""What the page may see of a result or an item: safe metadata only, no server paths, no patient data."""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath

from medsearch.archives.modality import canonical_modality
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


def _explanation(result) -> dict:
    """The hit's match explanation (text searches), with the snippet it highlights."""
    if not getattr(result, "mode", None):
        return {}
    rounded = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
    return {
        "snippet": result.snippet or snippet(result.text),
        "highlights": [list(span) for span in (result.highlights if result.snippet else [])],
        "mode": result.mode,
        "dense_score": rounded(result.dense_score),
        "lexical_score": rounded(result.lexical_score),
        "matched_terms": list(result.matched_terms),
        "assertion": dict(result.assertion),
    }


def hit_view(result) -> dict:
    has_image = getattr(result, "image_path", None) is not None
    return {
        "rank": result.rank,
        "score": round(float(result.score), 4),
        "item_id": int(result.item_id),
        "key": result.key,
        "target": result.target,
        "snippet": snippet(result.text),
        "labels": list(result.labels or []),
        "concepts": named_labels(result.labels or []),
        "licence": result.licence,
        "modality": result.modality,
        "split": result.split,
        "has_image": has_image,
        "thumbnail_url": thumbnail_url(result.item_id) if has_image else None,
        **_explanation(result),
    }


def attribution(record) -> dict:
    meta = safe_metadata(record.extra)
    found = {k: meta[k] for k in ATTRIBUTION_KEYS if meta.get(k) not in (None, "")}
    return {"archive": record.archive, "key": record.key, "licence": record.licence, **found}


def item_view(record) -> dict:
    has_image = record.image_path is not None
    return {
        "item_id": int(record.item_id),
        "key": record.key,
        "archive": record.archive,
        "text": record.text or "",
        "labels": list(record.labels or []),
        "concepts": named_labels(record.labels or []),
        "licence": record.licence,
        "modality": canonical_modality(record.modality),
        "split": record.split,
        "metadata": safe_metadata(record.extra),
        "attribution": attribution(record),
        "has_image": has_image,
        "thumbnail_url": thumbnail_url(record.item_id) if has_image else None,
    }


def facet_values(raw) -> list[dict]:
    """A facet in any of the shapes a store may give ({value: count}, [(value, count)], [{value|name, count}],
    [value]) -> [{"value", "count"}], most frequent first."""
    if isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        pairs = []
        for entry in raw or []:
            if isinstance(entry, dict):
                pairs.append((entry.get("value", entry.get("name")), entry.get("count")))
            elif isinstance(entry, (list, tuple)) and len(entry) == 2:
                pairs.append(tuple(entry))
            else:
                pairs.append((entry, None))
    values = [{"value": str(v), "count": c} for v, c in pairs if v not in (None, "")]
    return sorted(values, key=lambda f: (-(f["count"] or 0), f["value"]))


FACET_NAMES = {"modality": ("modalities", "modality"), "findings": ("findings",), "body_regions": ("body_regions",),
               "labels": ("labels", "label"),
               "split": ("splits", "split"), "licence": ("licences", "licence", "licenses", "license")}


def _with_labels(values: list[dict], label_of) -> list[dict]:
    for value in values:
        label = label_of(value["value"])
        if label and label != value["value"]:
            value["label"] = label
    return values


def facets_view(info: dict) -> dict:
    from medsearch.archives.modality import modality_label

    raw = info.get("facets") or info
    out = {}
    for name, candidates in FACET_NAMES.items():
        source = next((raw[c] for c in candidates if isinstance(raw, dict) and c in raw), [])
        out[name] = facet_values(source)
    out["modality"] = _with_labels(out["modality"], modality_label)
    return out
