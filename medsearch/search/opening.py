"""Opening an index directory: manifest, checksums, store location, and the query model checked against it."""

from __future__ import annotations

from pathlib import Path

from medsearch.errors import IndexCorrupt, IndexMismatch
from medsearch.index_dir import default_db_url, read_manifest, verify_checksums
from medsearch.search.checks import check_encoder
from medsearch.search.index import Index
from medsearch.snapshot import NEXT_MANIFEST, current_manifest


def open_index(path, model=None, device: str = "auto", db_url: str | None = None) -> Index:
    """Open an index directory. ``model`` (a registry name or an Encoder) must be the index's model.

    Checksums are verified now; a named model other than the index's is loaded and checked now, the
    index's own model only on the first query.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if (path / NEXT_MANIFEST).exists():  # a compact was killed half-way: the store says which manifest is true
        from medsearch.store import Store

        with Store.open(db_url or manifest.db_url or default_db_url(path), create=False) as store:
            manifest = current_manifest(path, store)
    try:
        verify_checksums(path, manifest)
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{exc.filename} is missing from the index directory") from exc
    url = db_url or manifest.db_url or default_db_url(path)
    if url == default_db_url(path) and not (path / "meta.sqlite").is_file():
        # opening it would silently create an empty store, and every vector would look stale
        raise IndexCorrupt(f"{path / 'meta.sqlite'} is missing from the index directory")
    encoder = None
    if model is not None:
        if isinstance(model, str):
            from medsearch.models import load_encoder, resolve

            spec = resolve(model)
            if spec.dim is not None and spec.dim != manifest.dim:
                raise IndexMismatch(
                    f"model {model!r} has dimension {spec.dim}, this index {manifest.dim} (built with {manifest.model_id!r})",
                    hint=f"query with --model {manifest.model_name} or rebuild the index with the model you want",
                )
            encoder = load_encoder(model, device=device)
        else:
            encoder = model
        check_encoder(manifest, encoder, model if isinstance(model, str) else None)
    return Index(path, manifest, url, device=device, encoder=encoder)
