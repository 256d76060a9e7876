"""Reading a manifest field out of one row (a CSV dict or a parsed JSON object).

A field spec is one of:
- a column name (``"caption"``) or, for JSON, a dotted path (``"oa_info.oa.license"``);
- a template with ``{column}`` parts (``"{folder}/{filename}"``);
- a list of specs whose non-empty values are joined with a newline (``["findings", "impression"]``).
Empty strings and JSON nulls read as None.
"""

from __future__ import annotations

import re
from typing import Any

from medsearch.archives.manifest import LabelSource

_TEMPLATE_PART = re.compile(r"\{([^{}]+)\}")


def _lookup(row: Any, name: str) -> Any:
    if isinstance(row, dict) and name in row:
        return row[name]
    value = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, list):
        value = "; ".join(t for t in (_text(v) for v in value) if t)
    text = str(value).strip()
    return text or None


def get_field(row: Any, spec: str | list | None) -> str | None:
    """The value of ``spec`` in ``row`` as stripped text, or None when absent or empty."""
    if spec is None:
        return None
    if isinstance(spec, list):
        parts = [get_field(row, s) for s in spec]
        return "\n".join(p for p in parts if p) or None
    if "{" in spec:
        missing = False

        def fill(match: re.Match) -> str:
            nonlocal missing
            value = _text(_lookup(row, match.group(1)))
            missing = missing or value is None
            return value or ""

        filled = _TEMPLATE_PART.sub(fill, spec)
        return None if missing else filled
    return _text(_lookup(row, spec))


def required_columns(spec: str | list | None) -> list[str]:
    """The top-level column names a spec reads (to check a CSV header before reading rows)."""
    if spec is None:
        return []
    if isinstance(spec, list):
        return [c for s in spec for c in required_columns(s)]
    if "{" in spec:
        return [m.group(1) for m in _TEMPLATE_PART.finditer(spec)]
    return [spec]


def get_labels(row: Any, sources: tuple[LabelSource, ...]) -> list[str]:
    """Labels from every label source, split and stripped, in order, without duplicates."""
    labels: list[str] = []
    for source in sources:
        raw = _lookup(row, source.field)
        values = raw if isinstance(raw, list) else [raw]
        for value in values:
            text = _text(value)
            if text is None:
                continue
            pieces = text.split(source.separator) if source.separator else [text]
            for piece in pieces:
                piece = piece.strip()
                if piece and source.prefix + piece not in labels:
                    labels.append(source.prefix + piece)
    return labels
