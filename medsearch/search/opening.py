"""Opening an index directory: manifest, checksums, store location, and the query model checked against it."""

from __future__ import annotations

from pathlib import Path

from medsearch.errors import IndexCorrupt, IndexMismatch
from medsearch.index_dir import IndexDir, IndexManifest, read_manifest, verify_checksums
from medsearch.integrity import store_url
from medsearch.search.index import Index
from medsearch.snapshot import current_manifest


def open_index(path, model=None, device: str = "auto", db_url: str | None = None) -> Index:
    """Open an index directory. ``model`` (a registry name or an Encoder) must be the index's model.

    Checksums are verified now; a named model other than the index's is loaded and checked now, the
    index's own model only on the first query.
    """
    path = Path(path)
    files = IndexDir(path)
    manifest = read_manifest(path)
    if files.next_manifest.exists():  # a compact was killed half-way: the store says which manifest is true
        from medsearch.store import Store

        with Store.open(files.db_url(db_url, manifest), create=False) as store:
            manifest = current_manifest(path, store)
    try:
        verify_checksums(path, manifest)
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{exc.filename} is missing from the index directory") from exc
    url = store_url(path, db_url, manifest)
    encoder = None
    if model is not None:
        encoder = load_named(model, manifest, device) if isinstance(model, str) else model
        manifest.check_encoder(encoder)
    return Index(path, manifest, url, device=device, encoder=encoder)


def load_named(model: str, manifest: IndexManifest, device: str):
    """The encoder a registry name loads; a known dimension other than the index's is refused before loading."""
    from medsearch.models import load_encoder, resolve

    spec = resolve(model)
    if spec.dim is not None and spec.dim != manifest.dim:
        raise IndexMismatch(
            f"model {model!r} has dimension {spec.dim}, this index {manifest.dim} (built with {manifest.model_id!r})",
            hint=manifest.other_model_hint,
        )
    return load_encoder(model, device=device)
