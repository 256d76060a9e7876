"""The metadata store, the same tests over SQLite and PostgreSQL (fixtures ``store`` / ``store_url`` in conftest)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from medsearch.errors import ItemNotFound, StoreError
from medsearch.archives.item import ItemFields
from medsearch.store import Filters, NewItem, Store


def new_item(i: int, **fields) -> NewItem:
    values = dict(
        key=f"k{i}", image_path=f"/data/img{i}.png", text=f"caption {i}", labels=[], patient=f"p{i % 3}",
        split="train", licence="CC BY", modality="CT", extra={"view": "PA"}, content_hash=f"h{i}",
        image_vector_id=i, text_vector_id=i,
    )
    values.update(fields)
    stored = {name: values.pop(name) for name in ("content_hash", "image_vector_id", "text_vector_id")}
    return NewItem(ItemFields(**values), **stored)  # fields as given: "ct", "CR" are old spellings kept as stored


@pytest.fixture
def filled(store):
    """Six items with varied labels, modality, split and licence; vector id i is item k{i}."""
    archive = store.archive_id("demo", "/data", "demo")
    store.add_items(archive, [
        new_item(0, labels=["pneumonia", "effusion"], modality="CT", split="train", licence="CC BY"),
        new_item(1, labels=["pneumonia"], modality="ct", split="val", licence="CC BY-NC"),
        new_item(2, labels=["effusion"], modality="MR", split="test", licence="CC BY-NC-SA"),
        new_item(3, labels=["pneumonia", "effusion", "nodule"], modality="CR", split="train", licence="CC0"),
        new_item(4, labels=[], modality=None, split=None, licence=None, image_path=None, image_vector_id=None),
        new_item(5, labels=["nodule"], modality="MR", split="train", licence="CC BY", text=None, text_vector_id=None),
    ])
    return store, archive


def test_add_then_fetch_round_trip(store):
    archive = store.archive_id("demo", "/data", "demo")
    store.add_items(archive, [new_item(0, labels=["b", "a"], extra={"view": "PA", "age_band": "40-49"}),
                              new_item(1, image_path=None, image_vector_id=None)])

    by_image = store.records("image", [0, 1, 99])
    assert list(by_image) == [0]
    record = by_image[0]
    assert (record.archive, record.key, record.image_path, record.text) == ("demo", "k0", "/data/img0.png", "caption 0")
    assert record.labels == ["a", "b"]
    assert (record.patient, record.split, record.licence, record.modality) == ("p0", "train", "CC BY", "CT")
    assert record.extra == {"view": "PA", "age_band": "40-49"}
    assert (record.image_vector_id, record.text_vector_id) == (0, 0)

    by_text = store.records("text", [1])
    assert by_text[1].key == "k1" and by_text[1].image_path is None and by_text[1].image_vector_id is None
    assert store.item(record.item_id) == record


def test_awkward_text_and_extra_survive(store):
    from pathlib import Path

    text = "tab\there\nnew line, back\\slash \\N, quote ' \" and ünïcødé ≥ 5 mm"
    archive = store.archive_id("demo", "/data")
    store.add_items(archive, [new_item(0, text=text, labels=["a\tb", "ü"],
                                       extra={"nested": {"k": [1, 2.5, None]}, "where": Path("/x/y.png")})])
    record = store.records("text", [0])[0]
    assert record.text == text
    assert record.labels == ["a\tb", "ü"]
    assert record.extra == {"nested": {"k": [1, 2.5, None]}, "where": "/x/y.png"}


def test_archive_id_is_get_or_create(store):
    first = store.archive_id("demo", "/data", "demo")
    assert store.archive_id("demo", "/moved", "demo") == first
    assert store.archive_id("other", "/data2", None) != first


def test_readd_replaces_rows_and_keeps_item_id(store):
    archive = store.archive_id("demo", "/data", "demo")
    store.add_items(archive, [new_item(0, labels=["old"]), new_item(1)])
    item_id = store.records("image", [0])[0].item_id

    store.add_items(archive, [new_item(0, labels=["new"], text="changed", content_hash="h0b",
                                       image_vector_id=10, text_vector_id=10)])

    assert store.records("image", [0]) == {}
    assert store.records("text", [0]) == {}
    record = store.records("image", [10])[10]
    assert (record.item_id, record.text, record.labels) == (item_id, "changed", ["new"])
    assert store.known_hashes(archive) == {"k0": "h0b", "k1": "h1"}
    assert store.counts()["items"] == 2


def test_same_key_in_two_archives_are_two_items(store):
    first, second = store.archive_id("a", "/a"), store.archive_id("b", "/b")
    store.add_items(first, [new_item(0)])
    store.add_items(second, [new_item(0, image_vector_id=1, text_vector_id=1)])
    assert store.records("image", [0])[0].archive == "a"
    assert store.records("image", [1])[1].archive == "b"
    assert store.known_hashes(first) == {"k0": "h0"}


def test_remove_items(filled):
    store, archive = filled
    assert store.remove_items(archive, ["k1", "k3", "absent"]) == 2
    assert sorted(store.records("image", range(6))) == [0, 2, 5]
    assert store.allowed_vector_ids("image", Filters(labels=["pneumonia"])).tolist() == [0]
    assert set(store.known_hashes(archive)) == {"k0", "k2", "k4", "k5"}
    assert store.facets()["labels"] == {"effusion": 2, "nodule": 1, "pneumonia": 1}


def test_known_hashes(store):
    archive = store.archive_id("demo", "/data")
    assert store.known_hashes(archive) == {}
    store.add_items(archive, [new_item(i) for i in range(3)])
    assert store.known_hashes(archive) == {"k0": "h0", "k1": "h1", "k2": "h2"}
    assert store.known_hashes(store.archive_id("other", "/x")) == {}


def test_batch_larger_than_one_chunk(store):
    archive = store.archive_id("big", "/big")
    store.add_items(archive, [new_item(i, labels=[f"l{i % 5}"]) for i in range(4500)])
    assert store.counts()["items"] == 4500
    records = store.records("text", list(range(0, 4500, 45)))
    assert len(records) == 100 and records[4455].key == "k4455" and records[4455].labels == ["l0"]


@pytest.mark.parametrize(
    ("filters", "modality", "expected"),
    [
        (Filters(), "image", [0, 1, 2, 3, 5]),
        (Filters(), "text", [0, 1, 2, 3, 4]),
        (Filters(labels=["pneumonia"]), "image", [0, 1, 3]),
        (Filters(labels=["pneumonia", "effusion"]), "image", [0, 3]),
        (Filters(labels=["pneumonia", "effusion", "nodule"]), "text", [3]),
        (Filters(labels=["absent"]), "image", []),
        (Filters(modality="ct"), "image", [0, 1]),
        (Filters(modality="MR"), "text", [2]),
        (Filters(split="train"), "image", [0, 3, 5]),
        (Filters(licence="CC BY"), "image", [0, 5]),
        (Filters(licence="CC BY*"), "image", [0, 1, 2, 5]),
        (Filters(licence="CC BY-NC*"), "image", [1, 2]),
        (Filters(licence="CC"), "image", []),
        (Filters(labels=["pneumonia"], split="train", licence="CC*"), "image", [0, 3]),
    ],
)
def test_allowed_vector_ids(filled, filters, modality, expected):
    store, _ = filled
    allowed = store.allowed_vector_ids(modality, filters)
    assert allowed.dtype == np.int64
    assert allowed.tolist() == expected


def test_licence_wildcard_is_not_a_like_pattern(store):
    archive = store.archive_id("demo", "/data")
    store.add_items(archive, [new_item(0, licence="CC_BY"), new_item(1, licence="CCxBY")])
    assert store.allowed_vector_ids("image", Filters(licence="CC_*")).tolist() == [0]


def test_facets_and_counts(filled):
    store, _ = filled
    facets = store.facets()
    assert facets["labels"] == {"pneumonia": 3, "effusion": 3, "nodule": 2}
    assert list(facets["labels"]) == ["effusion", "pneumonia", "nodule"]  # most frequent first, then by name
    # canonical codes, old spellings merged as the filter matches them; items with no modality count as unknown
    assert facets["modalities"] == {"CT": 2, "MR": 2, "XR": 1, "unknown": 1}
    assert facets["splits"] == {"train": 3, "test": 1, "val": 1}
    assert facets["licences"] == {"CC BY": 2, "CC BY-NC": 1, "CC BY-NC-SA": 1, "CC0": 1}
    assert store.facets(label_limit=1)["labels"] == {"effusion": 3}
    assert store.counts() == {"archives": 1, "items": 6, "image": 5, "text": 5, "labels": 3}


def test_phi_key_in_extra_is_rejected(store):
    archive = store.archive_id("demo", "/data")
    with pytest.raises(StoreError, match="patient-identifying fields PatientName"):
        store.add_items(archive, [new_item(0), new_item(1, extra={"PatientName": "Doe^John"})])
    with pytest.raises(StoreError, match="patientid"):
        store.add_items(archive, [new_item(2, extra={"patientid": "123"})])
    assert store.counts()["items"] == 0  # nothing of a rejected batch is written


def test_unknown_item_and_unknown_vector_kind(store):
    with pytest.raises(ItemNotFound, match="no item with id 12345"):
        store.item(12345)
    with pytest.raises(StoreError, match="item id must be a whole number, not 'abc'"):
        store.item("abc")
    with pytest.raises(StoreError, match="unknown vector kind 'audio'"):
        store.records("audio", [0])


def test_migration_creates_tables_on_fresh_database(store_url):
    from sqlalchemy import create_engine, inspect

    with Store.open(store_url):
        pass
    engine = create_engine(store_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"archives", "items", "images", "texts", "labels", "medsearch_alembic_version"} <= tables


def test_head_revision_constant_matches_the_migration_scripts(store_url):
    from sqlalchemy import create_engine

    from medsearch.store.migrate import HEAD_REVISION, current_revision, head_revision

    assert HEAD_REVISION == head_revision()
    Store.open(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            assert current_revision(connection) == HEAD_REVISION
    finally:
        engine.dispose()


def test_reopen_keeps_data(store_url):
    with Store.open(store_url) as store:
        store.add_items(store.archive_id("demo", "/data"), [new_item(0)])
    with Store.open(store_url) as store:
        assert store.records("image", [0])[0].key == "k0"


def test_migrations_match_models(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from medsearch.store.lexical import is_fulltext_object
    from medsearch.store.migrate import VERSION_TABLE
    from medsearch.store.models import Base

    Store.open(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            # the full-text index's backend-specific tables and index are not in the ORM metadata
            opts = {"version_table": VERSION_TABLE,
                    "include_name": lambda name, kind, parent: not is_fulltext_object(name)}
            diff = compare_metadata(MigrationContext.configure(connection, opts=opts), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_concurrent_opens_of_a_fresh_database_both_succeed(store_url):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        stores = list(pool.map(Store.open, [store_url, store_url]))
    for opened in stores:
        assert opened.counts()["items"] == 0
        opened.close()


def test_up_to_date_sqlite_opens_read_only(tmp_path):
    path = tmp_path / "meta.sqlite"
    with Store.open(f"sqlite:///{path}") as store:
        store.add_items(store.archive_id("demo", "/data"), [new_item(0)])
    with Store.open(f"sqlite:///file:{path}?mode=ro&uri=true") as store:
        assert store.records("image", [0])[0].key == "k0"
        with pytest.raises(StoreError, match="readonly"):
            store.add_items(store.archive_id("other", "/x"), [new_item(1)])


def test_postgres_urls_without_driver_use_psycopg():
    from medsearch.store.engine import normalise_url

    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.sqlite") == "sqlite:///x.sqlite"


def test_in_memory_sqlite():
    with Store.open("sqlite://") as store:
        store.add_items(store.archive_id("demo", "/data"), [new_item(0)])
        assert store.records("text", [0])[0].text == "caption 0"
    with Store.open("sqlite:///:memory:") as store:
        assert store.counts()["items"] == 0


def test_unreachable_postgres_gives_hint():
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    assert caught.value.hint == "is PostgreSQL running? pip install 'medsearch[postgres]'"
    assert "cannot connect to store postgresql+psycopg://postgres@127.0.0.1:1/nowhere" in str(caught.value)


def test_sqlite_in_missing_folder_gives_hint(tmp_path):
    with pytest.raises(StoreError, match="cannot connect to store sqlite") as caught:
        Store.open(f"sqlite:///{tmp_path / 'missing' / 'meta.sqlite'}")
    assert caught.value.hint == "check that the folder exists and is writable"


def test_importing_filters_does_not_import_sqlalchemy():
    code = ("import sys, medsearch.store.filters, medsearch.store; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
