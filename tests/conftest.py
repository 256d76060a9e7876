"""Shared pytest fixtures. Keep each fixture small and documented; add yours below."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Patient hashes are keyed by a per-deployment secret (medsearch.privacy); without this the test run would
# generate one in the user's config folder. tests/test_harden_privacy.py unsets it where that is the point.
os.environ.setdefault("MEDSEARCH_PATIENT_SALT", "medsearch-tests-only-secret")


# --- the command line, run in this process ---------------------------------------------------------------


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `medsearch ARGS` through the real entry point (``medsearch.cli.main``), which
    turns domain errors into an exit code and one line; a traceback fails the test (it is not caught here)."""
    from medsearch.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- caches and threads: no test writes into the user's cache or config folder ----------------------------


@functools.cache
def shipped_export_names() -> tuple[str, ...]:
    """File names of the ONNX exports of the shipped default weights (named by the weights' fingerprint)."""
    from medsearch.models import default, image_runtime, text_runtime

    fingerprints = [default.fingerprint(w) for w in (default.WEIGHTS, default.CC_WEIGHTS) if w.exists()]
    return tuple(runtime.onnx_path(fp).name for fp in fingerprints for runtime in (text_runtime, image_runtime))


def _point_caches_at(patch: pytest.MonkeyPatch, cache: Path, config: Path) -> None:
    from medsearch.privacy import SECRET_FILE_ENV

    patch.setenv("MEDSEARCH_CACHE", str(cache))  # ONNX exports, feature caches, open_clip fingerprints
    patch.setenv("XDG_CONFIG_HOME", str(config))  # a generated patient-hash secret (medsearch.privacy)
    patch.delenv(SECRET_FILE_ENV, raising=False)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """The cache and config folders of session- and module-scoped fixtures (a temporary folder, never the
    user's), and the store of the shipped weights' ONNX exports that every test shares (see isolated_cache)."""
    patch = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("session-cache")
    _point_caches_at(patch, cache, tmp_path_factory.mktemp("session-config"))
    yield cache
    patch.undo()


@pytest.fixture(autouse=True)
def isolated_cache(session_cache, tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty MEDSEARCH_CACHE and config folder. Only the ONNX exports of the shipped
    default weights are shared across the session: exporting takes 10-30 s, the files are named by the weights'
    fingerprint and written once, never changed. One that a test exports is kept for the tests after it."""
    cache = tmp_path_factory.mktemp("cache")
    names = shipped_export_names()
    for name in names:
        if (session_cache / name).is_file():
            (cache / name).symlink_to(session_cache / name)
    _point_caches_at(monkeypatch, cache, tmp_path_factory.mktemp("config"))
    yield cache
    for name in names:
        made = cache / name
        if made.is_file() and not made.is_symlink() and not (session_cache / name).exists():
            os.replace(made, session_cache / name)


@pytest.fixture(scope="module")
def one_faiss_thread():
    """One OpenMP thread for faiss in a module (``pytestmark = pytest.mark.usefixtures("one_faiss_thread")``):
    threads spin against each other on a busy shared CPU, and the test indexes are tiny anyway."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data folder (/work/shared/data); tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found: {SHARED_DATA}")
    return SHARED_DATA


# --- tiny hand-built index for search tests (search engineer) -----------------------------------------

TINY_FINDINGS = ["pneumothorax", "pleural effusion", "cardiomegaly", "pulmonary embolism", "fracture", "nodule"]
TINY_MODALITIES = ["CT", "MR", "CR"]
TINY_LICENCES = ["CC BY", "CC BY-NC", "CC0"]
TINY_SPLITS = ["train", "val", "test"]


def tiny_item(i: int, image_dir: Path) -> dict:
    """Item i of the tiny archive: a 16x16 random PNG and a caption with a unique word ``case{i}``."""
    import numpy as np
    from PIL import Image

    path = image_dir / f"img{i:03d}.png"
    pixels = np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    finding = TINY_FINDINGS[i % len(TINY_FINDINGS)]
    return {
        "key": f"k{i:03d}",
        "image_path": str(path),
        "text": f"{finding} seen on the scan case{i}\nsecond line of the caption",
        "labels": [finding] + (["followup"] if i % 4 == 0 else []),
        "split": TINY_SPLITS[i % 3],
        "licence": TINY_LICENCES[(i // 3) % 3],
        "modality": TINY_MODALITIES[(i // 2) % 3],
        "extra": {"image_relpath": f"images/img{i:03d}.png"},
    }


def build_tiny_index(index_dir: Path, n: int = 120, stale: set[int] = frozenset(), factories: dict | None = None,
                     model_id: str | None = None, model_name: str = "fake") -> list[dict]:
    """An index built by hand (no indexer): vectors .npy + faiss + Store + manifest, fake encoder.

    Vector id i is item i; items in ``stale`` get vectors but no store row. Returns the items.
    """
    image_dir = index_dir.parent / f"{index_dir.name}-images"
    image_dir.mkdir(parents=True, exist_ok=True)
    items = [tiny_item(i, image_dir) for i in range(n)]
    write_test_index(index_dir, items, image_dir, stale=stale, factories=factories, model_id=model_id,
                     model_name=model_name)
    return items


def write_test_index(index_dir: Path, items: list[dict], archive_root: Path, stale: set[int] = frozenset(),
                     factories: dict | None = None, model_id: str | None = None, model_name: str = "fake",
                     db_url: str | None = None) -> None:
    """A real index of ``items`` (dicts of ``ItemFields`` plus an optional ``archive``, default "tiny"), built by
    hand: vectors .npy + faiss + Store + manifest, fake encoder. Per modality, vector ids number the items that
    have that content (an image path, a text) in order; a modality no item has is left out; items in ``stale``
    get vectors but no store row. Store item ids follow the items' order (one archive after another, in order of
    first appearance). ``db_url``: another store than the index's meta.sqlite (the manifest does not name it:
    open the index with the same ``db_url``)."""
    import faiss
    import numpy as np

    from medsearch.archives.item import ItemFields
    from medsearch.imaging import load_image
    from medsearch.lexical.stamp import current_analysis
    from medsearch.index_dir import (IndexDir, IndexManifest, ModalityEntry, faiss_file_name, sha256_file,
                                     vectors_file_name, write_manifest)
    from medsearch.models.fake import FakeEncoder
    from medsearch.store import NewItem, Store

    index_dir.mkdir(parents=True, exist_ok=True)
    encoder = FakeEncoder()
    with_image = [i for i, it in enumerate(items) if it.get("image_path") is not None]
    with_text = [i for i, it in enumerate(items) if it.get("text") is not None]
    vectors = {}
    if with_image:
        vectors["image"] = encoder.encode_images([load_image(items[i]["image_path"]) for i in with_image])
    if with_text:
        vectors["text"] = encoder.encode_texts([items[i]["text"] for i in with_text])
    vector_id = {"image": {i: v for v, i in enumerate(with_image)}, "text": {i: v for v, i in enumerate(with_text)}}
    factories = factories or {"image": "Flat", "text": "Flat"}
    entries = {}
    files = IndexDir(index_dir)  # the file names are the index's own, never spelled here
    for modality, vecs in vectors.items():
        np.save(files.vectors(modality), vecs)
        ann = faiss.index_factory(encoder.dim, factories[modality], faiss.METRIC_INNER_PRODUCT)
        ann.train(vecs)
        ann.add(vecs)
        faiss.write_index(ann, str(files.faiss(modality)))
        ivf = faiss.try_extract_index_ivf(ann)
        entries[modality] = ModalityEntry(
            factory=factories[modality], count=len(vecs), index_file=faiss_file_name(modality),
            vectors_file=vectors_file_name(modality), checksum=sha256_file(files.faiss(modality)),
            nprobe=ivf.nlist if ivf is not None else None,
        )
    by_archive: dict[str, list] = {}
    for i, it in enumerate(items):
        fields = {name: value for name, value in it.items() if name != "archive"}
        if i not in stale:  # fields as given: "CR" stays as stored (old indexes hold such spellings)
            by_archive.setdefault(it.get("archive", "tiny"), []).append(NewItem(
                ItemFields(**fields), content_hash=f"h{i}", image_vector_id=vector_id["image"].get(i),
                text_vector_id=vector_id["text"].get(i)))
    store = Store.open(db_url or files.default_db_url)
    for archive, records in by_archive.items():
        store.add_items(store.archive_id(archive, str(archive_root), archive), records)
    store.close()
    write_manifest(index_dir, IndexManifest(  # its texts were all analysed now, by the running code
        model_id=model_id or encoder.model_id, model_name=model_name, dim=encoder.dim, modalities=entries,
        analysis=current_analysis(),
    ))


def write_text_index(index_dir: Path, texts: list[str], key: str = "c{:02d}", **fields) -> Path:
    """``index_dir``: a fake-encoder index of ``texts`` alone (archive "captions"; item i's key ``key.format(i)``,
    store item id i + 1; ``fields``: the same other ItemFields for every item)."""
    write_test_index(index_dir, [dict(archive="captions", key=key.format(i), text=t, **fields)
                                 for i, t in enumerate(texts)], Path("/captions"))
    return index_dir


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory) -> tuple[Path, list[dict]]:
    """(index dir, items) of a 120-item fake-encoder index; items 7 and 50 are stale (vectors, no store row)."""
    index_dir = tmp_path_factory.mktemp("tiny") / "index"
    return index_dir, build_tiny_index(index_dir, stale={7, 50})


@pytest.fixture(scope="module")
def tiny_client(tiny_index):
    """A FastAPI TestClient of the serve app over the tiny index (the app opens it at start-up, as `serve` does)."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.search import open_index
    from medsearch.serve.app import create_app

    index_dir, _ = tiny_index
    with TestClient(create_app(lambda: open_index(index_dir))) as client:
        yield client


# --- metadata store over SQLite and PostgreSQL (store engineer) ---------------------------------------

PG_URL_ENV = "MEDSEARCH_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_unavailable(reason: str):
    """Fail in CI (the postgres tests must run there for real); skip on a workstation without PostgreSQL."""
    import os

    message = f"PostgreSQL not reachable ({reason}); set {PG_URL_ENV} or start the server"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_test_database():
    """(admin engine, URL) of a PostgreSQL database ``medsearch_test_<random>`` made for this test session and
    dropped at its end, so sessions never see each other's tables."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    server_url = make_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    name = f"medsearch_test_{uuid.uuid4().hex[:12]}"
    try:
        server = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except (SQLAlchemyError, ImportError) as exc:
        _postgres_unavailable(str(exc).splitlines()[0])
    database_url = server_url.set(database=name)
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        yield admin, database_url
    finally:
        admin.dispose()
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture
def fresh_pg_url(pg_test_database) -> str:
    """URL of a new, empty PostgreSQL schema (via ``search_path``) in the session's test database, dropped
    afterwards: every test starts from an empty schema (a schema costs far less to make than a database)."""
    import uuid

    from sqlalchemy import text

    admin, database_url = pg_test_database
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield database_url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """A fresh, empty store URL: an SQLite file, then a new PostgreSQL database (marked ``postgres``)."""
    if request.param == "postgres":
        return request.getfixturevalue("fresh_pg_url")
    return f"sqlite:///{tmp_path / 'meta.sqlite'}"


@pytest.fixture
def store(store_url):
    """An open ``medsearch.store.Store`` on ``store_url``, closed afterwards."""
    from medsearch.store import Store

    opened = Store.open(store_url)
    yield opened
    opened.close()
