"""Which manifest is current, when a `compact` was killed half-way.

``compact`` writes the new generation's files, then ``manifest.next.json``, then renumbers the store's vector ids
(one transaction), then renames ``manifest.next.json`` over ``manifest.json``. A kill leaves a next manifest
behind; the store says which one is true: the new generation's ids all lie at or past its ``id_base``, past every
id of the old one. Readers use the true one; writers (holding the lock) finish the rename or drop the leftover.
"""

from __future__ import annotations

from pathlib import Path

from medsearch.index_dir import NEXT_MANIFEST, IndexDir, IndexManifest, read_manifest, remove_unreferenced


def pending(index_dir: Path) -> IndexManifest | None:
    if not IndexDir(index_dir).next_manifest.exists():
        return None
    return read_manifest(index_dir, NEXT_MANIFEST)


def store_is_on(manifest: IndexManifest, store) -> bool:
    """True when the store's vector ids lie in ``manifest``'s id ranges (checked on one modality with rows)."""
    for modality, entry in manifest.modalities.items():
        low, _ = store.vector_id_range(modality)
        if low is not None:
            return low >= entry.id_base
    return True


def current_manifest(index_dir: Path, store) -> IndexManifest:
    """The manifest the store agrees with (manifest.json unless a killed compact's store transaction committed)."""
    nxt = pending(index_dir)
    if nxt is not None and store_is_on(nxt, store):
        return nxt
    return read_manifest(index_dir)


def settle(index_dir: Path, store, manifest: IndexManifest | None = None) -> IndexManifest | None:
    """Writers only, under the index lock: finish or drop a killed compact. Returns the manifest now current
    (None when the directory has none yet). ``manifest``: manifest.json as the caller read it under the same
    lock (read here when not given)."""
    files = IndexDir(index_dir)
    nxt = pending(index_dir)
    if nxt is not None:
        if store_is_on(nxt, store):
            files.next_manifest.replace(files.manifest)
            manifest = nxt
        else:
            files.next_manifest.unlink()
    if manifest is None:
        if not files.manifest.exists():
            return None
        manifest = read_manifest(index_dir)
    remove_unreferenced(index_dir, manifest)
    return manifest
