"""What a search returns: "image" or "text" vectors, under every spelling the CLI, the API and Python accept."""

from __future__ import annotations

from medsearch.errors import BadQuery

TARGETS = ("image", "text")
TARGET_ALIASES = {"image": "image", "images": "image", "text": "text", "texts": "text", "report": "text",
                  "reports": "text", "caption": "text", "captions": "text"}


def canonical_target(target: str | None) -> str:
    """"image" or "text" for any accepted spelling (images, report, reports...); BadQuery otherwise."""
    canonical = TARGET_ALIASES.get(str(target).strip().lower()) if target is not None else None
    if canonical is None:
        raise BadQuery(f"unknown target {target!r}", hint=f"choose one of: {', '.join(TARGET_ALIASES)}")
    return canonical


def resolve_target(name: str | None, image_query: bool, available=("image", "text")) -> str:
    """--target -> "image"/"text"; unset: reports for an image query, images for a text query, or whichever
    kind the index has when it holds only one (a report-only index answers text queries with reports)."""
    if name is None:
        preferred = "text" if image_query else "image"
        return preferred if preferred in available or not available else next(iter(available))
    try:
        return TARGET_ALIASES[name.lower()]
    except KeyError:
        raise BadQuery(f"unknown target {name!r}", hint=f"choose one of: {', '.join(TARGET_ALIASES)}") from None
