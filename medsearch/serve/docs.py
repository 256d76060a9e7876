"""/docs: Swagger UI from the swagger-ui-bundle package (served locally, so /docs works offline).

That bundle's Swagger UI reads OpenAPI 3.0 only, and FastAPI writes 3.1: given /openapi.json it showed "Unable to
render this definition" and no endpoint. The page reads ``swagger_document``, the same document in 3.0 terms;
/openapi.json stays the app's own (3.1) for clients and code generators."""

from __future__ import annotations

from typing import Any

SWAGGER_OPENAPI = "3.0.3"
DOCS_OPENAPI_URL = "/docs/openapi.json"


def _as_oas30(node: Any) -> Any:
    """A JSON-schema node in 3.0 terms: ``anyOf: [X, {"type": "null"}]`` (an optional value) becomes X with
    ``nullable: true``; ``const: v`` becomes ``enum: [v]``; tuples (``prefixItems``) become arrays of their item."""
    if isinstance(node, list):
        return [_as_oas30(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _as_oas30(value) for key, value in node.items()}
    if "anyOf" in node:
        kept = [option for option in node["anyOf"] if option != {"type": "null"}]
        if len(kept) < len(node["anyOf"]):
            rest = {key: value for key, value in node.items() if key != "anyOf"}
            node = {**kept[0], **rest} if len(kept) == 1 and "$ref" not in kept[0] else {**rest, "anyOf": kept}
            node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "prefixItems" in node:
        items = node.pop("prefixItems")
        node["items"] = items[0] if len({repr(i) for i in items}) == 1 else {"anyOf": items}
    return node


def swagger_document(spec: dict) -> dict:
    """``spec`` (the app's OpenAPI 3.1 document) as the bundled Swagger UI reads it."""
    return {**_as_oas30(spec), "openapi": SWAGGER_OPENAPI}
