"""The Python query API: open an index directory and search it by text or by image.

    index = open_index("./idx")
    hits = index.search_text("PE", k=10)                       # text -> image
    hits = index.search_text("pneumothorax", target="text")    # text -> report
    hits = index.search_image("scan.dcm", target="image")      # image -> image

faiss, the metadata store and the encoder load on first use; a text query with the default model never
imports torch (its text tower runs on onnxruntime), so nothing here imports torch either.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from medsearch.archives.modality import canonical_modality
from medsearch.errors import BadQuery, IndexCorrupt, IndexMismatch, MedsearchError
from medsearch.index_dir import IndexManifest, default_db_url, manifest_stamp, read_manifest, verify_checksums
from medsearch.snapshot import NEXT_MANIFEST, current_manifest
from medsearch.store.filters import Filters

from medsearch.targets import TARGET_ALIASES, TARGETS, canonical_target  # noqa: F401  (re-exported)
MODES = ("dense", "lexical", "hybrid")
# Filtered searches first try the unfiltered candidate pool with the filter checked on its records (cheap for
# broad filters); only when too few pass do they fetch the allowed vector ids from the store.
POST_FILTER_FIRST = True
LEXICAL_THREADS = 8  # concurrent text queries whose full-text work runs beside their encoding (see _lexical_pool)

__all__ = ["Filters", "Index", "SearchResult", "open_index"]


@dataclass
class SearchResult:
    rank: int
    score: float
    item_id: int
    key: str
    target: str  # "image" or "text": which vectors matched
    image_path: str | None
    text: str | None
    labels: list[str] = field(default_factory=list)
    licence: str | None = None
    split: str | None = None
    modality: str | None = None
    extra: dict = field(default_factory=dict)
    archive: str | None = None
    case: str | None = None  # the key of the case the item belongs to (see medsearch.teaching)
    # why it matched (text queries): each ranking's own score (None: not in that ranking's candidates), the
    # query terms found, a snippet with [start, end) highlight spans, and the text's status per query finding
    mode: str | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    matched_terms: list[str] = field(default_factory=list)
    snippet: str | None = None
    highlights: list[tuple[int, int]] = field(default_factory=list)
    assertion: dict = field(default_factory=dict)
    searched_for: str | None = None

    @classmethod
    def from_record(cls, rank: int, score: float, target: str, record) -> "SearchResult":
        return cls(
            rank=rank,
            score=score,
            item_id=record.item_id,
            key=record.key,
            target=target,
            image_path=None if record.image_path is None else str(record.image_path),
            text=record.text,
            labels=list(record.labels or []),
            licence=record.licence,
            split=record.split,
            modality=canonical_modality(record.modality),
            extra=dict(record.extra or {}),
            archive=record.archive,
            case=record.case,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _check_target(target: str) -> str:
    return canonical_target(target)


def _check_mode(mode: str | None) -> str:
    from medsearch.query.fusion import DEFAULT_MODE

    if mode is None:
        return DEFAULT_MODE
    if mode not in MODES:
        raise BadQuery(f"unknown search mode {mode!r}", hint=f"choose one of: {', '.join(MODES)}")
    return mode


def _check_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise BadQuery(f"k must be a positive whole number, not {k!r}")
    return k


def _as_filters(filters) -> Filters | None:
    """None, a Filters or a dict of its fields -> Filters, or None when nothing is restricted."""
    if filters is None:
        return None
    if isinstance(filters, dict):
        try:
            filters = Filters(**filters)
        except TypeError as exc:
            raise BadQuery(f"bad filters {filters!r}: {exc}") from exc
    return None if filters.is_empty() else filters


class Index:
    """An opened index directory. Heavy parts (faiss indexes, vectors, store, encoder) load on first use."""

    def __init__(self, path: Path, manifest: IndexManifest, db_url: str, device: str = "auto", encoder=None):
        self.path = Path(path)
        self.manifest = manifest
        self.db_url = db_url
        self.device = device
        self._encoder = encoder
        self._store = None
        self._ann: dict[str, object] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._bases: dict[str, int] = {}
        self._stamp = manifest_stamp(self.path)  # the manifest.json these parts belong to (see _refresh)
        self._db_stamp = _file_stamp(self.db_url)
        # one lock per lazily loaded part, so that they can load at the same time (see _load_in_background)
        self._encoder_lock = threading.Lock()
        self._store_lock = threading.Lock()
        self._ann_lock = threading.RLock()
        self._pool = None  # see _lexical_pool
        self._pool_lock = threading.Lock()
        self.last_timings: dict[str, float] = {}  # seconds per stage of the latest search (encode, filter, ann...)
        self.last_plan = ""  # how the latest search ran: unfiltered, post-filter or pre-filter
        self.last_query = ""  # the text the latest text query embedded (normalised, lexicon-expanded)

    # --- lazily loaded parts ---------------------------------------------------------------------

    @property
    def encoder(self):
        with self._encoder_lock:
            if self._encoder is None:
                from medsearch.models import load_encoder

                encoder = load_encoder(self.manifest.model_name, device=self.device)
                _check_encoder(self.manifest, encoder, self.manifest.model_name)
                self._encoder = encoder
            return self._encoder

    @property
    def store(self):
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
        Searches already running keep the parts they hold. Returns True when it reopened."""
        stamp = manifest_stamp(self.path)
        if stamp == self._stamp or stamp is None:
            return False
        with self._ann_lock:
            stamp = manifest_stamp(self.path)
            if stamp == self._stamp or stamp is None:
                return False
            manifest = read_manifest(self.path)
            self._stamp = stamp
            self.manifest = manifest
            self._ann.clear()
            self._vectors.clear()
            self._bases = {}
        db_stamp = _file_stamp(self.db_url)
        if db_stamp != self._db_stamp:
            with self._store_lock:
                old, self._store, self._db_stamp = self._store, None, db_stamp
            if old is not None:
                old.close()
        return True

    def _entry(self, modality: str):
        entry = self.manifest.modalities.get(modality)
        if entry is None:
            have = ", ".join(self.manifest.modalities) or "none"
            raise BadQuery(
                f"this index has no {modality} vectors (it has: {have})",
                hint="search another target or rebuild the index with both images and texts",
            )
        return entry

    def _parts(self, modality: str):
        """(faiss index, float vectors) for one modality."""
        ann, vectors, _ = self._snapshot(modality)
        return ann, vectors

    def _snapshot(self, modality: str):
        """(faiss index, float vectors, id base) for one modality, all of one manifest: store vector id =
        base + row. A file the manifest names but a writer has just replaced: reopen once and retry."""
        try:
            return self._load_parts(modality)
        except FileNotFoundError:
            if not self._refresh():
                raise IndexCorrupt(f"the {modality} index files named in the manifest are missing") from None
            return self._load_parts(modality)

    def _load_parts(self, modality: str):
        with self._ann_lock:
            if modality not in self._ann:
                import faiss

                from medsearch.integrity import check_vector_file

                entry = self._entry(modality)
                if not (self.path / entry.index_file).exists() or not (self.path / entry.vectors_file).exists():
                    raise FileNotFoundError(entry.index_file)
                try:
                    ann = faiss.read_index(str(self.path / entry.index_file))
                    check_vector_file(self.path / entry.vectors_file, entry, self.manifest.dim)
                    vectors = np.load(self.path / entry.vectors_file, mmap_mode="r")
                except FileNotFoundError:
                    raise
                except (OSError, RuntimeError, ValueError) as exc:  # faiss raises RuntimeError on bad files
                    if not (self.path / entry.index_file).exists():
                        raise FileNotFoundError(entry.index_file) from exc  # removed by a writer meanwhile
                    raise IndexCorrupt(f"cannot read the {modality} index files: {exc}") from exc
                if vectors.ndim != 2 or vectors.shape[1] != self.manifest.dim:
                    raise IndexCorrupt(f"{entry.vectors_file} has shape {vectors.shape}, expected (n, {self.manifest.dim})")
                vectors = vectors[:entry.count]  # rows a running writer appended after this manifest: not ours
                ivf = faiss.try_extract_index_ivf(ann)
                if ivf is not None and entry.nprobe:
                    ivf.nprobe = entry.nprobe
                self._ann[modality], self._vectors[modality] = ann, vectors
                self._bases[modality] = entry.id_base
            return self._ann[modality], self._vectors[modality], self._bases[modality]

    def _load_in_background(self, target: str) -> None:
        """On a cold index, open the store and read the faiss index in a thread while the query is embedded
        (onnxruntime releases the GIL): a cold CLI query overlaps the two instead of paying for both.
        Errors are not lost: the search itself touches the same parts and raises them in the caller."""
        if self._store is not None and target in self._ann:
            return

        def load() -> None:
            try:
                self.store
                self._parts(target)
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

    def embed_text(self, query: str, target: str = "image", ensemble: bool = True, expand: bool = True) -> np.ndarray:
        """The (dim,) unit vector a text query searches with: a short query normalised, expanded and through the
        template ensemble; a caption-like one as written (``prompts.dense_query``)."""
        from medsearch.prompts import dense_query, ensemble_embedding

        text, to_embed, template_set = dense_query(query, _check_target(target), ensemble, expand)
        self.last_query = text
        return ensemble_embedding(self.encoder, to_embed, template_set)

    def embed_image(self, image) -> np.ndarray:
        return self.encoder.encode_images([_to_pil(image)])[0]

    def search_text(
        self,
        query: str,
        k: int = 10,
        target: str = "image",
        ensemble: bool = True,
        expand: bool = True,
        filters=None,
        mode: str | None = None,
        negation: bool = True,
        fusion=None,
    ) -> list[SearchResult]:
        """Search by words. ``mode``: "dense" (embeddings), "lexical" (the full-text index) or "hybrid" (both,
        fused; the default). ``negation``: respect assertion (a positive query does not match "no X", "no X"
        prefers texts without X); off, only for measuring what it brings. ``fusion``: FusionSettings."""
        from medsearch.lexical.query import parse
        from medsearch.query.fusion import DEFAULT_FUSION

        target = _check_target(target)
        _check_k(k)
        mode = _check_mode(mode)
        fusion = fusion or DEFAULT_FUSION
        start = time.perf_counter()
        lexical_query = parse(query, expand=expand)
        clauses = lexical_query.clauses if negation else [dataclasses.replace(c, status="any") for c in lexical_query.clauses]
        depth = max(k, fusion.depth)
        rankings: dict[str, list[tuple[int, float]]] = {}  # item id, score
        records: dict[int, object] = {}
        vector_ids: dict[int, int] = {}  # item id -> vector id of ``target``, to fetch the records kept
        strict: set[int] = set()  # items whose text matches the whole query
        timings: dict[str, float] = {}
        lexical_job = None
        if mode in ("lexical", "hybrid") or (negation and clauses):
            # the full-text work (the lexical ranking; which items assert or deny each finding of the query) runs
            # in a thread while the query is embedded (onnxruntime releases the GIL)
            from medsearch.query.fusion import assertion_sets, lexical_ranking

            def lexical_search():
                lexical_start = time.perf_counter()
                found = (lexical_ranking(self.store, target, clauses, _as_filters(filters), depth, k)
                         if mode != "dense" else ([], {}, set()))
                sets = assertion_sets(self.store, target, clauses) if negation and clauses else None
                return found, sets, time.perf_counter() - lexical_start

            if mode != "lexical" and not _in_memory(self.db_url):  # one shared connection: no second thread
                lexical_job = self._lexical_pool().submit(lexical_search)
            else:
                lexical_job = _Done(lexical_search())
        if mode in ("dense", "hybrid"):
            self._load_in_background(target)
            vector = self.embed_text(query, target=target, ensemble=ensemble, expand=expand)
            encode_s = time.perf_counter() - start
            dense_depth = depth if (mode == "hybrid" or (negation and clauses)) else k
            dense = self._ranked(vector, dense_depth, target, filters, encode_s, light=True)
            timings.update(self.last_timings)
            # rankings are fused by item id: vector ids are the store's concern (and change on compaction);
            # unfiltered, the ranking returned item ids only, and the records of the k kept are fetched at the end
            for vid, score, found in dense:
                item_id = found if isinstance(found, int) else found.item_id
                vector_ids[item_id] = vid
                rankings.setdefault("dense", []).append((item_id, score))
                if not isinstance(found, int):
                    records[item_id] = SearchResult.from_record(0, score, target, found)
            rankings.setdefault("dense", [])
        else:
            self.last_query = lexical_query.text
        sets = None
        if lexical_job is not None:
            (found, lexical_vectors, strict), sets, timings["lexical"] = lexical_job.result()
            if mode != "dense":
                rankings["lexical"] = found
            vector_ids = {**lexical_vectors, **vector_ids}
        hits = self._fuse(rankings, records, vector_ids, strict if mode == "hybrid" else None, clauses, sets, k,
                          target, mode, fusion, timings)
        timings["total"] = time.perf_counter() - start
        self.last_timings = timings
        for hit in hits:
            hit.searched_for = self.last_query
        return hits

    def _fuse(self, rankings, dense_hits, vector_ids, strict, clauses, sets, k, target, mode, fusion,
              timings) -> list[SearchResult]:
        """One ranking (or the RRF of two), grouped by assertion tier (and, hybrid, strict lexical match first),
        cut to k, with explanations. Groups are computed in fused order, a batch at a time, only until k
        candidates of the best group are known: nothing further down can overtake them."""
        from medsearch.lexical.explain import explain
        from medsearch.query.fusion import rrf, tier_from_sets

        fuse_start = time.perf_counter()
        order = [name for name in ("dense", "lexical") if name in rankings]
        if len(order) == 2:
            fused = rrf({n: [v for v, _ in rankings[n]] for n in order},
                        {"dense": fusion.dense_weight, "lexical": fusion.lexical_weight}, fusion.rrf_k)
        else:
            fused = {v: float(s) for v, s in rankings[order[0]]}
        own = {n: dict(rankings[n]) for n in order}
        ids = sorted(fused, key=lambda v: (-fused[v], v))
        groups: dict[int, int] = {}
        step = max(2 * k, 20)
        for start in range(0, len(ids), step):
            batch = ids[start:start + step]
            for v in batch:
                tier = tier_from_sets(clauses, sets, v) if sets is not None else 0
                groups[v] = 2 * tier + (strict is not None and v not in strict)
            # the candidates not yet seen score lower; none can be in a better group than `floor`, so once k
            # seen ones are in `floor` or better, the top k is settled
            floor = 0 if strict is None or any(v in strict for v in ids[start + step:]) else 1
            if sum(1 for g in groups.values() if g <= floor) >= k:
                break
        ranked = sorted(groups, key=lambda v: (groups[v], -fused[v], v))
        worst = max(groups.values(), default=0)
        if any(g != worst for g in groups.values()):
            # a hit in an earlier group scores above every hit of a later one (scores stay monotonic): earlier
            # groups get a bonus rather than later ones a penalty, so no score shown to a user goes below zero
            span = 1.0 + max(fused.values()) - min(fused.values())
            fused = {v: fused[v] + span * (worst - groups[v]) for v in ranked}
        timings["assertion"] = time.perf_counter() - fuse_start
        wanted = [v for v in ranked[:k + 5] if v not in dense_hits and v in vector_ids]
        fetched = self.store.records(target, [vector_ids[v] for v in wanted]) if wanted else {}
        records = {r.item_id: r for r in fetched.values()}
        timings["records"] = time.perf_counter() - fuse_start - timings["assertion"]
        hits = []
        for vid in ranked:
            if len(hits) == k:
                break
            if vid in dense_hits:
                hit = dense_hits[vid]
            elif vid in records:
                hit = SearchResult.from_record(0, 0.0, target, records[vid])
            else:
                continue  # removed since it was ranked
            why = explain(hit.text, clauses)
            hit.rank, hit.score, hit.mode = len(hits) + 1, float(fused[vid]), mode
            hit.dense_score = own.get("dense", {}).get(vid)
            hit.lexical_score = own.get("lexical", {}).get(vid)
            hit.matched_terms, hit.snippet, hit.highlights = why.matched_terms, why.snippet, why.highlights
            hit.assertion = why.assertion
            hits.append(hit)
        timings["fuse"] = time.perf_counter() - fuse_start
        return hits

    def search_image(self, image, k: int = 10, target: str = "text", filters=None) -> list[SearchResult]:
        target = _check_target(target)
        start = time.perf_counter()
        vector = self.embed_image(image)
        encode_s = time.perf_counter() - start
        return self._search(vector, k, target, filters, encode_s)

    def search_vector(self, vector: np.ndarray, k: int = 10, target: str = "image", filters=None) -> list[SearchResult]:
        """Rank ``target`` vectors against a query vector: ANN, exact rescoring, stale ids dropped, metadata."""
        return self._search(vector, k, target, filters, encode_s=0.0)

    def _search(self, vector, k: int, target: str, filters, encode_s: float) -> list[SearchResult]:
        return [SearchResult.from_record(i + 1, score, target, record)
                for i, (_, score, record) in enumerate(self._ranked(vector, k, target, filters, encode_s))]

    def _ranked(self, vector, k: int, target: str, filters, encode_s: float, light: bool = False
                ) -> list[tuple[int, float, object]]:
        """Dense top ``k`` as (vector id, score, record), all from one snapshot of the index (``light`` and no
        filters: the item id in place of the record)."""
        try:
            return self._ranked_snapshot(vector, k, target, filters, encode_s, light)
        except FileNotFoundError:  # a writer swapped the snapshot and removed the old files under this search
            if not self._refresh():
                raise IndexCorrupt("files named in the index manifest are missing") from None
            return self._ranked_snapshot(vector, k, target, filters, encode_s, light)

    def _ranked_snapshot(self, vector, k: int, target: str, filters, encode_s: float, light: bool = False
                         ) -> list[tuple[int, float, object]]:
        from medsearch.query.ranking import rank, rank_post_filtered

        target = _check_target(target)
        _check_k(k)
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.manifest.dim:
            raise IndexMismatch(f"query vector has dimension {vector.shape[0]}, the index {self.manifest.dim}")
        start = time.perf_counter()
        self._refresh()
        ann, vectors, base = self._snapshot(target)
        store = self.store
        timings = {"encode": encode_s, "load": time.perf_counter() - start}
        filters = _as_filters(filters)
        known = _rows_to_records(store, target, base, light=light and filters is None)
        hits, self.last_plan = None, "unfiltered"
        if filters is not None and POST_FILTER_FIRST:
            hits = rank_post_filtered(ann, vectors, vector, k, known, filters.matches, timings)
            self.last_plan = "post-filter"
        if hits is None:
            allowed = None
            if filters is not None:
                filter_start = time.perf_counter()
                allowed = store.allowed_vector_ids(target, filters) - base
                timings["filter"] = time.perf_counter() - filter_start
                self.last_plan = "pre-filter"
            hits = rank(ann, vectors, vector, k, known=known, allowed=allowed, timings=timings)
        if len(hits) < k and self._refresh():  # a writer swapped in a new snapshot while this one was read
            return self._ranked_snapshot(vector, k, target, filters, encode_s, light)
        timings["total"] = encode_s + time.perf_counter() - start
        self.last_timings = timings
        return [(row + base, score, record) for row, score, record in hits]  # rows -> the store's vector ids

    def search_similar(self, item_id: int, k: int = 10, target: str = "image", filters=None) -> list[SearchResult]:
        """'More like this': the item's stored vector (of ``target``'s kind, else the other) as the query;
        the item itself is left out."""
        target = _check_target(target)
        _check_k(k)
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
        self._refresh()
        _, vectors, base = self._snapshot(_check_target(modality))
        row = int(vector_id) - base
        if not 0 <= row < len(vectors):
            raise BadQuery(f"no {modality} vector {vector_id} in this index snapshot")
        return np.array(vectors[row], dtype=np.float32)

    def item(self, item_id: int):
        return self.store.item(item_id)

    def info(self) -> dict:
        """Manifest, store counts and facets, and the size of each file in the index directory."""
        self._refresh()
        files = {p.name: p.stat().st_size for p in sorted(self.path.iterdir()) if p.is_file()}
        counts = self.store.counts()
        return {
            "path": str(self.path),
            "manifest": asdict(self.manifest),
            "db_url": self.db_url,
            "vectors": vector_health(self.manifest, counts),
            "counts": counts,
            "facets": self.store.facets(),
            "disk": {"files": files, "total_bytes": sum(files.values())},
        }

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
        with self._ann_lock:
            self._ann.clear()
            self._vectors.clear()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def vector_health(manifest: IndexManifest, counts: dict) -> dict:
    """Per modality: vectors in the index, live (a store row points at them), dead (deleted or replaced items,
    until `medsearch compact`), and for IVF indexes the lists' imbalance factor (1 = even)."""
    from medsearch.integrity import imbalance

    health = {}
    for modality, entry in manifest.modalities.items():
        live = counts.get(modality, 0)
        health[modality] = {"vectors": entry.count, "live": live, "dead": max(entry.count - live, 0),
                            "imbalance": imbalance(entry.list_sizes)}
    return health


class _Done:
    """A finished job (the lexical search when it ran in the caller's thread)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _in_memory(db_url: str) -> bool:
    return db_url.rstrip("/") in ("sqlite:", "sqlite:") or ":memory:" in db_url


def _rows_to_records(store, target: str, base: int, light: bool = False):
    """``known`` for the ranking code, which works in vector-file rows: rows -> store ids -> records by row
    (``light``: item ids instead of records, one cheap query; the caller fetches the records it keeps)."""
    fetch = store.vector_items if light else store.records
    if base == 0:
        return lambda rows: fetch(target, rows)

    def known(rows):
        records = fetch(target, [int(r) + base for r in rows])
        return {vid - base: record for vid, record in records.items()}

    return known


def _file_stamp(db_url: str):
    """(inode, mtime) of an SQLite database file, None for other databases."""
    import os

    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    try:
        st = os.stat(db_url[len(prefix):])
    except OSError:
        return None
    return st.st_ino


def _check_encoder(manifest: IndexManifest, encoder, name: str | None = None) -> None:
    manifest.check_model(encoder.model_id, name)
    if encoder.dim != manifest.dim:
        raise IndexMismatch(f"model {encoder.model_id!r} has dimension {encoder.dim}, the index {manifest.dim}")


def _to_pil(image):
    """A path (PNG/JPEG/DICOM), raw bytes or a PIL image -> RGB PIL image."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    from medsearch import imaging

    if isinstance(image, (bytes, bytearray, memoryview)):
        return imaging.load_image_bytes(bytes(image))
    if isinstance(image, (str, Path)):
        return imaging.load_image(Path(image))
    raise BadQuery(f"cannot search with an image of type {type(image).__name__}", hint="give a path, bytes or a PIL image")


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
        _check_encoder(manifest, encoder, model if isinstance(model, str) else None)
    return Index(path, manifest, url, device=device, encoder=encoder)
