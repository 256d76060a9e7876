"""``Index``: an opened index directory, a snapshot of its manifest, FAISS indexes, vectors and store (loaded on
first use, reopened when a writer swaps in a new manifest), and the public query methods."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from medsearch.errors import BadQuery, IndexCorrupt, MedsearchError
from medsearch.index_dir import IndexDir, IndexManifest, manifest_stamp, read_manifest
from medsearch.search.checks import as_filters, check_k, check_mode, check_plan, check_target
from medsearch.search.dense import ranked
from medsearch.search.health import vector_health
from medsearch.search.hybrid import search_text
from medsearch.search.images import to_pil
from medsearch.search.outcome import QueryEmbedding, SearchOutcome
from medsearch.search.result import SearchResult

LEXICAL_THREADS = 8  # concurrent text queries whose full-text work runs beside their encoding (see _lexical_pool)


@dataclass(frozen=True)
class TargetSnapshot:
    """One target's loaded vectors, all of one manifest: the FAISS index, the float vectors (a read-only memory
    map) and the id base (store vector id = id_base + row; 0 unless the index was compacted)."""

    ann: object
    vectors: np.ndarray
    id_base: int


class Index:
    """An opened index directory. Heavy parts (faiss indexes, vectors, store, encoder) load on first use."""

    def __init__(self, path: Path, manifest: IndexManifest, db_url: str, device: str = "auto", encoder=None):
        self.path = Path(path)
        self.files = IndexDir(self.path)
        self.manifest = manifest
        self.db_url = db_url
        self.device = device
        self._encoder = encoder
        self._store = None
        self._loaded: dict[str, TargetSnapshot] = {}
        self._live: dict[tuple, np.ndarray] = {}  # see live_items
        self._derived: dict[str, dict] = {}  # see derived
        self._stamp = manifest_stamp(self.path)  # the manifest.json these parts belong to (see _refresh)
        self._db_stamp = _file_stamp(self.db_url)
        # one lock per lazily loaded part, so that they can load at the same time (see _load_in_background)
        self._encoder_lock = threading.Lock()
        self._store_lock = threading.Lock()
        self._ann_lock = threading.RLock()
        self._pool = None  # see _lexical_pool
        self._pool_lock = threading.Lock()

    # --- lazily loaded parts ---------------------------------------------------------------------

    def __repr__(self) -> str:
        items = self.manifest.items  # an index written before the manifest counted items: its most live vectors
        if items is None:
            items = max((e.count if e.live is None else e.live for e in self.manifest.modalities.values()), default=0)
        return f"<Index {self.path}: {self.manifest.model_id}, {items} items>"

    @property
    def encoder(self):
        """The query encoder: the index's own model (loaded on first use, checked against the manifest), or the
        one given to ``open_index``."""
        with self._encoder_lock:
            if self._encoder is None:
                from medsearch.models import load_encoder

                encoder = load_encoder(self.manifest.model_name, device=self.device)
                self.manifest.check_encoder(encoder)
                self._encoder = encoder
            return self._encoder

    @property
    def store(self):
        """The metadata store (``medsearch.store.Store``), opened on first use and checked against the manifest."""
        with self._store_lock:
            if self._store is None:
                from medsearch.integrity import check_store
                from medsearch.store import Store

                store = Store.open(self.db_url, create=False)  # an empty or foreign database is an error
                try:
                    check_store(self.path, self.manifest, store)
                except MedsearchError:
                    store.close()
                    raise
                self._store = store
            return self._store

    def _refresh(self) -> bool:
        """Reopen on a manifest change (a writer swapped in a new snapshot): the next search loads the new
        files; the store is reopened when it is another database file (a rebuild swapped the directory).
        Searches already running keep the parts they hold. Returns True when it reopened.

        A refresh is seen whole: the new stamp is set last, so a search in another thread (a text query's full-text
        thread refreshes beside its dense ranking) that finds the index current also finds the new store."""
        stamp = manifest_stamp(self.path)
        if stamp == self._stamp or stamp is None:
            return False
        with self._ann_lock:
            stamp = manifest_stamp(self.path)
            if stamp == self._stamp or stamp is None:
                return False
            self.manifest = read_manifest(self.path)
            self._loaded.clear()
            self._live.clear()
            self._derived = {}  # a search still using the old one keeps it
            db_stamp = _file_stamp(self.db_url)
            with self._store_lock:
                old = self._store
                if db_stamp != self._db_stamp:
                    self._store, self._db_stamp = None, db_stamp
                elif old is not None:
                    old.changed()  # the same database, written by the writer that swapped the manifest
                    old = None
            self._stamp = stamp
        if old is not None:
            old.close()
        return True

    def derived(self, name: str) -> dict:
        """A cache named ``name`` for what callers derive from this snapshot's store and files (the teaching
        tools' case vectors, case terms, thresholds): emptied when the index reopens on a new manifest, so a
        re-index or ``--reanalyse`` is seen by an open index (a server) as its searches are, including by a
        caller that reads the cache before it searches (a draft's threshold)."""
        self._refresh()
        return self._derived.setdefault(name, {})

    def _entry(self, modality: str):
        entry = self.manifest.modalities.get(modality)
        if entry is None and not self.manifest.modalities:
            raise BadQuery("this index is empty: nothing has been indexed into it",
                           hint="index an archive into it first (medsearch index --manifest NAME --root DIR --index DIR)")
        if entry is None:
            have = ", ".join(self.manifest.modalities)
            raise BadQuery(
                f"this index has no {modality} vectors (it has: {have})",
                hint="search another target or rebuild the index with both images and texts",
            )
        return entry

    def target_snapshot(self, target: str) -> TargetSnapshot:
        """``target``'s loaded FAISS index, vectors and id base, of the current manifest (loaded now if need be):
        for tools that time or scan them (benchmarks, teaching calibration). Searches go through ``search``."""
        target = check_target(target)
        self._refresh()
        return self._snapshot(target)

    def _snapshot(self, modality: str) -> TargetSnapshot:
        """One modality's loaded parts, all of one manifest. A file the manifest names but a writer has just
        replaced: reopen once and retry."""
        try:
            return self._load_parts(modality)
        except FileNotFoundError:
            if not self._refresh():
                raise IndexCorrupt(f"the {modality} index files named in the manifest are missing") from None
            return self._load_parts(modality)

    def _load_parts(self, modality: str) -> TargetSnapshot:
        with self._ann_lock:
            if modality not in self._loaded:
                import faiss

                from medsearch.integrity import check_vector_file

                entry = self._entry(modality)
                index_file, vectors_file = self.files.file(entry.index_file), self.files.file(entry.vectors_file)
                if not index_file.exists() or not vectors_file.exists():
                    raise FileNotFoundError(entry.index_file)
                try:
                    ann = faiss.read_index(str(index_file))
                    check_vector_file(vectors_file, entry, self.manifest.dim)
                    vectors = np.load(vectors_file, mmap_mode="r")
                except FileNotFoundError:
                    raise
                except (OSError, RuntimeError, ValueError) as exc:  # faiss raises RuntimeError on bad files
                    if not index_file.exists():
                        raise FileNotFoundError(entry.index_file) from exc  # removed by a writer meanwhile
                    raise IndexCorrupt(f"cannot read the {modality} index files: {exc}") from exc
                if vectors.ndim != 2 or vectors.shape[1] != self.manifest.dim:
                    raise IndexCorrupt(f"{entry.vectors_file} has shape {vectors.shape}, expected (n, {self.manifest.dim})")
                # rows a running writer appended after this manifest are not ours; a plain array over the mapped
                # file, as np.memmap's Python-level indexing cost more than the exact rescoring itself
                vectors = np.asarray(vectors[:entry.count])
                ivf = faiss.try_extract_index_ivf(ann)
                if ivf is not None and entry.nprobe:
                    ivf.nprobe = entry.nprobe
                self._loaded[modality] = TargetSnapshot(ann, vectors, entry.id_base)
            return self._loaded[modality]

    def live_items(self, target: str, base: int, rows: int) -> np.ndarray:
        """Row of ``target``'s vector file -> id of the item that points at it (-1: none, a deleted or replaced
        item's vector), for the ``rows`` rows from vector id ``base``: read from the store once per manifest
        snapshot, in place of a liveness query on every search. Writers change the store and then swap in a new
        manifest, which clears it; in between, a deleted item may still map here, and the records fetched for
        the hits (by vector id) drop it."""
        key = (target, base, rows)
        with self._ann_lock:
            live = self._live.get(key)
            if live is None:
                vector_ids, item_ids = self.store.vector_items(target)
                inside = (vector_ids >= base) & (vector_ids < base + rows)
                live = np.full(rows, -1, dtype=np.int64)
                live[vector_ids[inside] - base] = item_ids[inside]
                self._live = {k: v for k, v in self._live.items() if k[0] != target}
                self._live[key] = live
            return live

    def _load_in_background(self, target: str) -> None:
        """On a cold index, open the store and read the faiss index in a thread while the query is embedded
        (onnxruntime releases the GIL): a cold CLI query overlaps the two instead of paying for both.
        Errors are not lost: the search itself touches the same parts and raises them in the caller."""
        if self._store is not None and target in self._loaded:
            return

        def load() -> None:
            try:
                self.store
                self._snapshot(target)
            except MedsearchError:
                pass  # raised again, in the caller's thread, when the search reaches the same part

        threading.Thread(target=load, name="medsearch-prefetch", daemon=True).start()

    def _lexical_pool(self):
        """The threads the full-text work of text queries runs in: kept for the index's life, as starting a
        thread per query cost about as much as the ANN search (one per concurrent query, up to LEXICAL_THREADS)."""
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=LEXICAL_THREADS, thread_name_prefix="medsearch-lexical")
            return self._pool

    # --- queries ---------------------------------------------------------------------------------

    def embed_query(self, query: str, target: str = "image", ensemble: bool = True, expand: bool = True
                    ) -> QueryEmbedding:
        """The text a text query searches with and its (dim,) unit vector: a short query normalised, expanded and
        through the template ensemble; a caption-like one as written (``prompts.dense_query``)."""
        from medsearch.prompts import dense_query, ensemble_embedding

        text, to_embed, template_set = dense_query(query, check_target(target), ensemble, expand)
        return QueryEmbedding(text, ensemble_embedding(self.encoder, to_embed, template_set))

    def embed_text(self, query: str, target: str = "image", ensemble: bool = True, expand: bool = True) -> np.ndarray:
        """The (dim,) unit vector a text query searches with (``embed_query`` without the text)."""
        return self.embed_query(query, target=target, ensemble=ensemble, expand=expand).vector

    def embed_image(self, image) -> np.ndarray:
        """The (dim,) unit vector an image query searches with; ``image``: a path (PNG, JPEG, DICOM) or a PIL image."""
        return self.encoder.encode_images([to_pil(image)])[0]

    def search(
        self,
        text: str | None = None,
        *,
        image=None,
        vector: np.ndarray | None = None,
        k: int = 10,
        target: str | None = None,
        filters=None,
        plan: str = "auto",
        mode: str | None = None,
        ensemble: bool = True,
        expand: bool = True,
        negation: bool = True,
        fusion=None,
    ) -> SearchOutcome:
        """One search, by exactly one of ``text``, ``image`` (a path, bytes or a PIL image) or ``vector``, and how it
        ran: hits, filter plan, seconds per stage, the text searched for. ``target``: the vectors ranked, "image"
        or "text" (default: images for a text or vector query, texts for an image). ``filters``: a Filters or a
        dict of its fields. ``plan``: "auto" or "pre-filter" (``checks.PLANS``). Text queries only: ``mode``
        "dense" (embeddings), "lexical" (the full-text index) or "hybrid" (both, fused; the default);
        ``ensemble``/``expand`` the template ensemble and lexicon expansion; ``negation`` respects assertion (a
        positive query does not match "no X", "no X" prefers texts without X; off only to measure what it
        brings); ``fusion`` FusionSettings."""
        given = [name for name, value in (("text", text), ("image", image), ("vector", vector)) if value is not None]
        if len(given) != 1:
            raise BadQuery(f"search with exactly one of text, image or vector (given: {', '.join(given) or 'none'})")
        target = check_target(target or ("text" if image is not None else "image"))
        check_k(k)
        filters, plan = as_filters(filters), check_plan(plan)
        if text is not None:
            from medsearch.query.fusion import DEFAULT_FUSION

            return search_text(self, text, k, target, filters, plan, check_mode(mode), ensemble, expand, negation,
                               fusion or DEFAULT_FUSION)
        if mode not in (None, "dense"):
            raise BadQuery(f"search mode {mode!r} needs a text query", hint="image and vector queries are dense")
        if image is None:
            return self._search(vector, k, target, filters, plan, encode_s=0.0)
        start = time.perf_counter()
        vector = self.embed_image(image)
        return self._search(vector, k, target, filters, plan, encode_s=time.perf_counter() - start)

    def search_text(self, query: str, k: int = 10, target: str = "image", ensemble: bool = True, expand: bool = True,
                    filters=None, mode: str | None = None, negation: bool = True, fusion=None) -> list[SearchResult]:
        """Search by words: the hits of ``search(query, ...)`` (its arguments are documented there)."""
        return list(self.search(query, k=k, target=target, ensemble=ensemble, expand=expand, filters=filters,
                                mode=mode, negation=negation, fusion=fusion).hits)

    def search_image(self, image, k: int = 10, target: str = "text", filters=None) -> list[SearchResult]:
        """Search by an image (a path, bytes or a PIL image): the hits of ``search(image=...)``."""
        return list(self.search(image=image, k=k, target=target, filters=filters).hits)

    def search_vector(self, vector: np.ndarray, k: int = 10, target: str = "image", filters=None) -> list[SearchResult]:
        """Rank ``target`` vectors against a query vector: ANN, exact rescoring, stale ids dropped, metadata."""
        return list(self.search(vector=vector, k=k, target=target, filters=filters).hits)

    def _search(self, vector, k: int, target: str, filters, plan: str, encode_s: float) -> SearchOutcome:
        """A dense search (arguments checked by ``search``)."""
        dense = ranked(self, vector, k, target, filters, plan, encode_s)
        hits = tuple(SearchResult.from_record(i + 1, score, target, record)
                     for i, (_, score, record) in enumerate(dense.ranked))
        return SearchOutcome(hits, dense.plan, dense.timings)

    def search_similar(self, item_id: int, k: int = 10, target: str = "image", filters=None) -> list[SearchResult]:
        """'More like this': the item's stored vector (of ``target``'s kind, else the other) as the query;
        the item itself is left out."""
        target = check_target(target)
        check_k(k)
        record = self.item(item_id)
        own = {"image": record.image_vector_id, "text": record.text_vector_id}
        for modality in sorted(own, key=lambda m: m != target):
            if own[modality] is not None and modality in self.manifest.modalities:
                vector = self.stored_vector(modality, own[modality])
                break
        else:
            raise BadQuery(f"item {item_id} has no stored vector to search with")
        hits = [h for h in self.search_vector(vector, k=k + 1, target=target, filters=filters) if h.item_id != record.item_id]
        return [dataclasses.replace(h, rank=i + 1) for i, h in enumerate(hits[:k])]

    def stored_vector(self, modality: str, vector_id: int) -> np.ndarray:
        """The float vector stored for ``vector_id`` (a copy, safe to keep)."""
        loaded = self.target_snapshot(modality)
        row = int(vector_id) - loaded.id_base
        if not 0 <= row < len(loaded.vectors):
            raise BadQuery(f"no {modality} vector {vector_id} in this index snapshot")
        return np.array(loaded.vectors[row], dtype=np.float32)

    def item(self, item_id: int):
        """The stored record (``ItemRecord``) of one item, by the ``item_id`` a hit carries."""
        return self.store.item(item_id)

    @property
    def analysis(self):
        """The full-text analysis this index's texts were read with, beside the running code's
        (``medsearch.lexical.stamp.AnalysisState``): not ``current_matches``, the index answers as before but its
        negation and uncertainty are the older rules' until `medsearch index ... --reanalyse`."""
        from medsearch.lexical.stamp import analysis_state

        self._refresh()
        texts = self.manifest.modalities.get("text")
        return analysis_state(self.manifest.analysis, texts=texts is not None and texts.count > 0)

    def info(self) -> dict:
        """Manifest, full-text analysis, store counts and facets, and the size of each file in the index directory;
        database URLs with any password hidden."""
        self._refresh()
        files = {p.name: p.stat().st_size for p in sorted(self.path.iterdir()) if p.is_file()}
        counts = self.store.counts()
        from medsearch.store.engine import safe_url

        manifest = asdict(self.manifest)
        if manifest.get("db_url"):
            manifest["db_url"] = safe_url(manifest["db_url"])
        return {  # database URLs with any password hidden: this is shown (info, --json, the server)
            "path": str(self.path),
            "manifest": manifest,
            "analysis": self.analysis.to_dict(),
            "db_url": safe_url(self.db_url),
            "vectors": vector_health(self.manifest, counts),
            "counts": counts,
            "facets": self.store.facets(),
            "disk": {"files": files, "total_bytes": sum(files.values())},
        }

    def close(self) -> None:
        """Release the store connection, loaded FAISS indexes and vectors (also on leaving a ``with`` block)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
        with self._ann_lock:
            self._loaded.clear()
            self._live.clear()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _file_stamp(db_url: str):
    """The inode of an SQLite database file (a rebuild swaps in another file), None for other databases."""
    import os

    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    try:
        st = os.stat(db_url[len(prefix):])
    except OSError:
        return None
    return st.st_ino
