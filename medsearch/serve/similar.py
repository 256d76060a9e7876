"""'More like this': search with an indexed item as the query; the item itself is left out.

In order of preference:
1. ``Index.search_similar(item_id, k, target, filters)`` if the index offers it;
2. the item's stored vector (image vector, else text vector) through ``Index.search_vector`` — the only
   use of an Index internal (``_parts``, which returns the memory-mapped vectors) until there is a public
   accessor for stored vectors;
3. re-encoding the item's own image (or text) through the public search API.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np


def stored_vector(index, record) -> np.ndarray | None:
    if not (hasattr(index, "search_vector") and hasattr(index, "_parts")):
        return None
    for modality, vector_id in (("image", record.image_vector_id), ("text", record.text_vector_id)):
        if vector_id is not None and modality in index.manifest.modalities:
            _, vectors = index._parts(modality)
            return np.asarray(vectors[int(vector_id)], dtype=np.float32)
    return None


def _query_by_item(services, item_id: int, k: int, target: str, filters):
    index = services.index
    if hasattr(index, "search_similar"):
        return services.call("search_similar", item_id, k=k, target=target, filters=filters)
    record = services.call("item", item_id)
    with services.lock:
        vector = stored_vector(index, record)
        if vector is not None:
            return index.search_vector(vector, k=k, target=target, filters=filters)
    if record.image_path is not None and Path(record.image_path).is_file():
        return services.call("search_image", Path(record.image_path), k=k, target=target, filters=filters)
    return services.call("search_text", record.text or record.key, k=k, target=target, filters=filters)


def search_similar(services, item_id: int, k: int, target: str, filters):
    results = _query_by_item(services, item_id, k + 1, target, filters)
    others = [r for r in results if int(r.item_id) != int(item_id)][:k]
    return [replace(r, rank=i + 1) for i, r in enumerate(others)]
