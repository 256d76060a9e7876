"""'More like this': search with an indexed item as the query; the item itself is left out.

``Index.search_similar`` searches with the item's stored vector (no re-encoding). An index object without
it (an older or a stand-in one) falls back to re-encoding the item's own image, or its text.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path


def search_similar(services, item_id: int, k: int, target: str, filters):
    if hasattr(services.index, "search_similar"):
        return services.call("search_similar", item_id, k=k, target=target, filters=filters)
    record = services.call("item", item_id)
    if record.image_path is not None and Path(record.image_path).is_file():
        results = services.call("search_image", Path(record.image_path), k=k + 1, target=target, filters=filters)
    else:
        results = services.call("search_text", record.text or record.key, k=k + 1, target=target, filters=filters)
    others = [r for r in results if int(r.item_id) != int(item_id)][:k]
    return [replace(r, rank=i + 1) for i, r in enumerate(others)]
