"""Index lifecycle on tiny data made here (fake encoder), SQLite and PostgreSQL: delete, prune, compact, ls,
verify, orphan reclaim, rebuild beside, killed compacts, open checks, readers that follow a changing index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_indexer import GOOD, make_archive

import medsearch
from medsearch.archives import open_archive
from medsearch.errors import IndexCorrupt, StoreError
from medsearch.index_dir import read_manifest
from medsearch.models.fake import FakeEncoder

from indexer import maintain
from indexer.pipeline import IndexOptions, build_index

LIVE = GOOD + 1  # items the test archive indexes (6 images with text, 1 text-only)


@pytest.fixture
def archive_dir(tmp_path):
    return make_archive(tmp_path / "archive")


@pytest.fixture(params=["own", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    """None (the index's own meta.sqlite), or an external store: an SQLite file, then PostgreSQL."""
    if request.param == "own":
        return None
    if request.param == "postgres":
        return request.getfixturevalue("fresh_pg_url")
    return f"sqlite:///{tmp_path / 'external.sqlite'}"


def index(tmp_path, db=None, **options):
    options.setdefault("workers", 0)
    return build_index(open_archive("csv", tmp_path / "archive"), tmp_path / "idx", FakeEncoder(),
                       IndexOptions(db_url=db, progress=False, **options))


def opened(tmp_path, db=None):
    return medsearch.open_index(tmp_path / "idx", model="fake", db_url=db)


def every_key(idx, target="text") -> list[str]:
    """Keys of every hit of a search that asks for more than the index holds (ANN + rescoring path)."""
    return [h.key for h in idx.search_text("finding report caption chest", k=50, target=target, ensemble=False)]


def add_row(archive_dir, row: str) -> None:
    """Insert a row before the archive's last rows (its final row is an unterminated quote)."""
    csv = archive_dir / "items.csv"
    csv.write_text(csv.read_text().replace("gone,", row + "\ngone,"))


def remove_row(archive_dir, key: str) -> None:
    csv = archive_dir / "items.csv"
    csv.write_text("\n".join(line for line in csv.read_text().splitlines() if not line.startswith(f"{key},")) + "\n")


def test_deleted_items_are_gone_from_every_search_path(tmp_path, archive_dir, db):
    index(tmp_path, db)
    with opened(tmp_path, db) as idx:
        own = idx.stored_vector("text", _text_vid(idx, "c2"))
        assert "c2" in every_key(idx)
        assert "c2" in [h.key for h in idx.search_text("finding number 2", k=50, target="text", mode="lexical")]

        result = maintain.delete_items(tmp_path / "idx", keys=["c2", "nope"], db_url=db)
        assert (result.deleted, result.not_found) == (1, ["nope"])

        # the same open Index, no restart: ANN + exact rescoring, vector query, post-filter and pre-filter
        assert "c2" not in every_key(idx)
        assert "c2" not in [h.key for h in idx.search_vector(own, k=50, target="text")]
        assert "c2" not in [h.key for h in idx.search_vector(own, k=50, target="text", filters={"split": "train"})]
        assert "c2" not in [h.key for h in idx.search_vector(own, k=50, target="image", filters={"labels": ["n2"]})]
        assert len(idx.search_vector(own, k=50, target="text")) == LIVE - 1
        for mode in ("lexical", "hybrid", "dense"):  # the full-text rows went with the item
            hits = idx.search_text("finding number 2 chest film", k=50, target="text", mode=mode)
            assert hits and "c2" not in [h.key for h in hits], mode
    assert "c2" not in [r.key for r in maintain.list_items(tmp_path / "idx", db_url=db)]
    manifest = read_manifest(tmp_path / "idx")
    assert (manifest.modalities["text"].live, manifest.items) == (LIVE - 1, LIVE - 1)


def _text_vid(idx, key):
    return next(r for r in idx.store.list_items(keys=[key])).text_vector_id


def test_delete_by_filter_and_the_cli(tmp_path, archive_dir, db):
    from typer.testing import CliRunner

    from medsearch.cli import app, main

    index(tmp_path, db)
    extra = ["--db", db] if db else []
    runner = CliRunner()
    listed = runner.invoke(app, ["ls", "--index", str(tmp_path / "idx"), "--split", "test", "--json", *extra])
    assert listed.exit_code == 0, listed.output
    assert [row["key"] for row in json.loads(listed.output)] == ["report1"]

    deleted = runner.invoke(app, ["delete", "--index", str(tmp_path / "idx"), "--split", "test", *extra])
    assert deleted.exit_code == 0, deleted.output
    assert "deleted 1 items" in deleted.output
    with pytest.raises(SystemExit) as exited:  # never "delete everything" by omission
        main(["delete", "--index", str(tmp_path / "idx"), *extra])
    assert exited.value.code == 2

    table = runner.invoke(app, ["ls", "--index", str(tmp_path / "idx"), *extra])
    assert table.exit_code == 0 and "c0" in table.output and "report1" not in table.output
    with opened(tmp_path, db) as idx:
        assert "report1" not in every_key(idx)


def test_reindex_prunes_rows_removed_from_the_archive(tmp_path, archive_dir, db):
    index(tmp_path, db)
    remove_row(archive_dir, "c3")
    again = index(tmp_path, db)
    assert (again.pruned, again.indexed, again.counts["text"]) == (1, 0, LIVE - 1)
    with opened(tmp_path, db) as idx:
        assert "c3" not in every_key(idx) and "c3" not in every_key(idx, "image")
    limited = index(tmp_path, db, limit=2)  # a partial read never prunes
    assert limited.pruned == 0 and len(maintain.list_items(tmp_path / "idx", db_url=db)) == LIVE - 1
    kept = index(tmp_path, db, prune=False)
    assert kept.pruned == 0


def test_compact_drops_dead_vectors_and_keeps_answers(tmp_path, archive_dir, db):
    index(tmp_path, db)
    csv = archive_dir / "items.csv"
    csv.write_text(csv.read_text().replace("finding number 4", "finding number four changed"))
    index(tmp_path, db)
    maintain.delete_items(tmp_path / "idx", keys=["c1"], db_url=db)
    before = read_manifest(tmp_path / "idx").modalities["text"]
    assert (before.count, before.live) == (LIVE + 1, LIVE - 1)  # one replaced, one deleted

    with opened(tmp_path, db) as reader:  # opened before the compact, follows it
        answers = every_key(reader)
        result = maintain.compact(tmp_path / "idx", db_url=db)
        assert result.after == {"image": GOOD - 1, "text": LIVE - 1} and result.dropped == 4  # text and image of both
        assert every_key(reader) == answers
        assert reader.manifest.generation == 1
    after = read_manifest(tmp_path / "idx")
    assert after.modalities["text"].id_base == before.id_base + LIVE + 1  # ids past every old one
    names = {p.name for p in (tmp_path / "idx").iterdir()}
    assert after.files() <= names and not any(n.startswith("text_vectors.npy") for n in names)
    assert maintain.verify(tmp_path / "idx", db_url=db).ok
    again = medsearch.compact(tmp_path / "idx", db_url=db)  # the Python API; nothing dead: nothing rewritten
    assert (again.dropped, again.generation) == (0, 1) and read_manifest(tmp_path / "idx").files() == after.files()
    assert index(tmp_path, db).unchanged == LIVE - 1 + 0  # c1 is back in the archive, so it is indexed again
    assert "c1" in [r.key for r in medsearch.list_items(tmp_path / "idx", db_url=db)]


@pytest.mark.parametrize("stage", ["before", "after"])
def test_a_compact_killed_around_its_store_transaction(tmp_path, archive_dir, monkeypatch, stage):
    from medsearch.store.store import Store

    index(tmp_path)
    maintain.delete_items(tmp_path / "idx", keys=["c0"])
    with opened(tmp_path) as idx:
        answers = every_key(idx)
    renumber = Store.renumber_vectors

    def dies(self, mapping):
        if stage == "after":
            renumber(self, mapping)
        raise KeyboardInterrupt  # stands in for a kill: nothing after this point runs

    monkeypatch.setattr(Store, "renumber_vectors", dies)
    with pytest.raises(KeyboardInterrupt):
        maintain.compact(tmp_path / "idx")
    monkeypatch.undo()
    assert (tmp_path / "idx" / "manifest.next.json").exists()
    with opened(tmp_path) as idx:  # a reader picks the manifest the store agrees with
        assert every_key(idx) == answers
        assert idx.manifest.generation == (1 if stage == "after" else 0)
    assert index(tmp_path).indexed == 1  # the next writer settles it (c0 is still in the archive)
    assert not (tmp_path / "idx" / "manifest.next.json").exists()
    assert maintain.verify(tmp_path / "idx").ok


def test_a_kill_between_vectors_and_rows_leaves_no_counted_orphans(tmp_path, archive_dir, monkeypatch):
    from medsearch.store.store import Store

    def dies(self, archive_id, records):
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "add_items", dies)
    with pytest.raises(KeyboardInterrupt):
        index(tmp_path)
    monkeypatch.undo()
    assert np.load(tmp_path / "idx" / "text_vectors.npy", mmap_mode="r").shape[0] == LIVE  # written, no rows
    resumed = index(tmp_path)
    manifest = read_manifest(tmp_path / "idx")
    assert resumed.reclaimed == 2 * LIVE - 1  # text and image orphans
    assert {m: (e.count, e.live) for m, e in manifest.modalities.items()} == {"image": (GOOD, GOOD),
                                                                          "text": (LIVE, LIVE)}
    with opened(tmp_path) as idx:
        assert idx.info()["vectors"]["text"] == {"vectors": LIVE, "live": LIVE, "dead": 0, "imbalance": None}


def test_progress_is_flushed_by_time(tmp_path, archive_dir):
    from test_indexer import DiesAfter

    from indexer.embed import TorchEmbedder

    encoder = FakeEncoder()
    dying = DiesAfter(TorchEmbedder(encoder, batch_size=2, workers=0), batches=2)
    with pytest.raises(KeyboardInterrupt):
        build_index(open_archive("csv", tmp_path / "archive"), tmp_path / "idx", encoder,
                    IndexOptions(batch_size=2, commit_every=1000, flush_items=1000, flush_seconds=0.0, embedder=dying,
                                 progress=False))
    assert index(tmp_path, batch_size=2).unchanged == 4  # both batches were flushed, by time alone


def test_rebuild_builds_beside_and_swaps(tmp_path, archive_dir, monkeypatch):
    from indexer import pipeline

    index(tmp_path)
    first = read_manifest(tmp_path / "idx").created
    seen = {}
    swap = pipeline.exchange_dirs

    def watch(a, b):
        with opened(tmp_path) as idx:  # the old index still answers right before the swap
            seen["keys"] = every_key(idx)
        swap(a, b)

    monkeypatch.setattr(pipeline, "exchange_dirs", watch)
    rebuilt = index(tmp_path, rebuild=True)
    assert len(seen["keys"]) == LIVE and rebuilt.indexed == LIVE
    assert read_manifest(tmp_path / "idx").created >= first
    assert not (tmp_path / "idx.rebuild").exists()

    class Boom(RuntimeError):
        pass

    def dies(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(pipeline, "exchange_dirs", dies)
    with pytest.raises(Boom):
        index(tmp_path, rebuild=True)
    with opened(tmp_path) as idx:  # killed before the swap: the old index is intact
        assert len(every_key(idx)) == LIVE


def test_a_running_reader_sees_reindexed_items(tmp_path, archive_dir):
    index(tmp_path)
    with opened(tmp_path) as idx:
        assert every_key(idx)
        csv = archive_dir / "items.csv"
        add_row(archive_dir, "late,,a late report about atelectasis,,test,CC BY,")
        csv.write_text(csv.read_text().replace("finding number 5 on chest film", "changed caption five"))
        index(tmp_path)
        hits = idx.search_text("late report atelectasis", k=1, target="text", ensemble=False)
        assert hits[0].key == "late"  # new item found without restarting
        assert idx.search_text("changed caption five", k=1, target="text", ensemble=False)[0].key == "c5"


def test_open_checks_the_store(tmp_path, archive_dir):
    index(tmp_path)
    db_file = tmp_path / "idx" / "meta.sqlite"
    db_file.write_bytes(b"")  # emptied
    with opened(tmp_path) as idx, pytest.raises(StoreError, match="is empty, not a medsearch metadata store"):
        idx.search_text("finding")
    assert db_file.stat().st_size == 0  # no fresh schema written into it

    db_file.write_bytes(b"this is not a database at all" * 200)
    with opened(tmp_path) as idx, pytest.raises(StoreError) as error:
        idx.search_text("finding")
    assert "damaged" in error.value.hint and "writable" not in error.value.hint


def test_open_checks_store_ids_against_the_index(tmp_path, archive_dir):
    from medsearch.store import Store

    index(tmp_path)
    other = tmp_path / "other"
    build_index(open_archive("csv", tmp_path / "archive"), other, FakeEncoder(),
                IndexOptions(workers=0, progress=False))
    with Store.open(f"sqlite:///{other / 'meta.sqlite'}") as store:
        store.renumber_vectors({"text": (store.vector_ids("text"), store.vector_ids("text") + 1000)})
    (tmp_path / "idx" / "meta.sqlite").write_bytes((other / "meta.sqlite").read_bytes())
    with opened(tmp_path) as idx, pytest.raises(IndexCorrupt, match="different builds"):
        idx.search_text("finding", target="text")


def test_foreign_vectors_are_caught_cheaply_and_by_verify(tmp_path, archive_dir):
    from typer.testing import CliRunner

    from medsearch.cli import app

    index(tmp_path)
    path = tmp_path / "idx" / "text_vectors.npy"
    vectors = np.load(path)
    np.save(path, np.random.default_rng(0).standard_normal(vectors.shape).astype(np.float32))  # same size
    with opened(tmp_path) as idx, pytest.raises(IndexCorrupt, match="norm"):
        idx.search_text("finding", target="text")

    np.save(path, vectors[::-1].copy())  # unit vectors, same size, wrong order: only the checksum sees it
    with opened(tmp_path) as idx:
        idx.search_text("finding", target="text")
    result = CliRunner().invoke(app, ["verify", "--index", str(tmp_path / "idx")])
    assert isinstance(result.exception, IndexCorrupt) and IndexCorrupt.exit_code == 7
    assert "text_vectors.npy does not match its checksum" in result.output
    np.save(path, vectors)
    ok = CliRunner().invoke(app, ["verify", "--index", str(tmp_path / "idx")])
    assert ok.exit_code == 0 and "all checks passed" in ok.output


def test_growing_ivf_keeps_list_sizes_and_retrains_on_drift(tmp_path, archive_dir, monkeypatch):
    from indexer import ann

    index(tmp_path, factory="IVF2,Flat")
    text = read_manifest(tmp_path / "idx").modalities["text"]
    assert sum(text.list_sizes) == LIVE and text.trained_count == LIVE
    csv = archive_dir / "items.csv"
    add_row(archive_dir, "late,,a late report about atelectasis,,test,CC BY,")
    monkeypatch.setattr(ann, "build", lambda *a, **k: pytest.fail("retrained without --retrain"))
    index(tmp_path, factory="IVF2,Flat")
    grown = read_manifest(tmp_path / "idx").modalities["text"]
    assert sum(grown.list_sizes) == LIVE + 1 and grown.trained_count == LIVE
    monkeypatch.undo()
    with opened(tmp_path) as idx:
        assert idx.info()["vectors"]["text"]["imbalance"] >= 1.0

    monkeypatch.setattr(ann, "IMBALANCE_RETRAIN", 0.5)  # any index counts as drifted
    add_row(archive_dir, "later,,another late report,,test,CC BY,")
    index(tmp_path, factory="IVF2,Flat", retrain=True)
    assert read_manifest(tmp_path / "idx").modalities["text"].trained_count == LIVE + 2


def test_a_running_server_sees_reindexed_and_deleted_items(tmp_path, archive_dir):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.serve.app import create_app
    from medsearch.serve.settings import ServeSettings

    index(tmp_path)
    with TestClient(create_app(opened(tmp_path), ServeSettings())) as client:
        _server_follows_the_index(tmp_path, archive_dir, client)


def _server_follows_the_index(tmp_path, archive_dir, client):
    def keys(q):
        response = client.get("/api/search", params={"q": q, "target": "text", "k": 3})
        assert response.status_code == 200, response.text
        return [hit["key"] for hit in response.json()["results"]]

    assert "late" not in keys("late report atelectasis")
    add_row(archive_dir, "late,,a late report about atelectasis,,test,CC BY,")
    index(tmp_path)
    assert keys("late report atelectasis")[0] == "late"  # no restart
    maintain.delete_items(tmp_path / "idx", keys=["late"])
    assert "late" not in keys("late report atelectasis")
    maintain.compact(tmp_path / "idx")
    assert "late" not in keys("late report atelectasis") and len(keys("finding")) == 3


def test_compact_keeps_a_trained_ivf_quantiser(tmp_path, archive_dir, monkeypatch):
    from indexer import ann

    index(tmp_path, factory="IVF2,Flat")
    maintain.delete_items(tmp_path / "idx", keys=["c0", "c1"])
    monkeypatch.setattr(ann, "choose_factory", lambda n, d, exact_limit=0: "IVF2,Flat")
    monkeypatch.setattr(ann, "build", lambda *a, **k: pytest.fail("retrained instead of refilling the lists"))
    maintain.compact(tmp_path / "idx")
    text = read_manifest(tmp_path / "idx").modalities["text"]
    assert (text.factory, text.count, sum(text.list_sizes), text.trained_count) == ("IVF2,Flat", LIVE - 2, LIVE - 2, LIVE)
    monkeypatch.undo()
    with opened(tmp_path) as idx:
        assert sorted(every_key(idx)) == sorted({"c2", "c3", "c4", "c5", "report1"})


def test_faiss_indexes_are_filled_in_shards(monkeypatch):
    from indexer import ann

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    whole = ann.build(vectors, "IVF4,Flat")
    calls = []
    monkeypatch.setattr(ann, "ADD_SHARD", 300)
    original = ann.add_vectors

    class Counting:
        def __init__(self, index):
            self.index = index

        def add(self, rows):
            calls.append(len(rows))
            self.index.add(rows)

    monkeypatch.setattr(ann, "add_vectors", lambda index, rows: original(Counting(index), rows))
    sharded = ann.build(vectors, "IVF4,Flat")
    assert calls == [300, 300, 300, 100]
    np.testing.assert_array_equal(sharded.search(vectors[:20], 5)[1], whole.search(vectors[:20], 5)[1])


def test_an_open_reader_follows_a_rebuild(tmp_path, archive_dir):
    index(tmp_path)
    with opened(tmp_path) as idx:
        before = every_key(idx)
        remove_row(archive_dir, "c4")
        index(tmp_path, rebuild=True)  # the directory is swapped under the reader, meta.sqlite included
        after = every_key(idx)
        assert "c4" not in after and sorted(after) == sorted(k for k in before if k != "c4")
        assert idx.manifest.created == read_manifest(tmp_path / "idx").created


def test_a_rebuild_during_a_text_query_never_returns_what_it_removed(tmp_path, archive_dir, monkeypatch):
    """A text query runs its full-text work (lexical ranking, likely hits made ready) in a thread while it is
    embedded (search/hybrid.py). A rebuild that swaps the database after that and before the dense ranking: what
    that thread found is of the old database, whose item and vector ids the new one gives to other items; the
    query answers from the new database alone."""
    import threading

    from medsearch.search import hybrid

    index(tmp_path)
    prepared = threading.Event()
    prepare = hybrid.prepared_hits

    def prepared_hits(*args, **kwargs):
        ready = prepare(*args, **kwargs)
        prepared.set()
        return ready

    monkeypatch.setattr(hybrid, "prepared_hits", prepared_hits)
    with opened(tmp_path) as idx:
        idx.search("warm up", k=1, target="text", mode="dense", negation=False)  # the store is open
        embed = idx.embed_query

        def embed_after_a_rebuild(*args, **kwargs):
            assert prepared.wait(30)
            remove_row(archive_dir, "c4")
            index(tmp_path, rebuild=True)  # the directory is swapped under the query, meta.sqlite included
            return embed(*args, **kwargs)

        monkeypatch.setattr(idx, "embed_query", embed_after_a_rebuild)
        hits = idx.search_text("finding number 4 on chest film", k=50, target="text")
        monkeypatch.setattr(idx, "embed_query", embed)
        after = idx.search_text("finding number 4 on chest film", k=50, target="text")
    assert hits and "c4" not in [h.key for h in hits]
    # item and vector ids are the new database's: each hit is the item its scores were found for, as a query
    # that starts after the rebuild finds it
    assert [(h.key, h.lexical_score, h.dense_score) for h in hits] == \
        [(h.key, h.lexical_score, h.dense_score) for h in after]


def test_a_search_that_finds_the_index_current_finds_its_new_store(tmp_path, archive_dir, monkeypatch):
    """Two threads of one query refresh an open index (search/hybrid.py: the full-text thread, the dense ranking):
    while the first is reopening after a rebuild, the second must not find the index current and read the old
    store (the store is swapped before the stamp that says the index is current)."""
    import threading

    from medsearch.search import index as index_module

    index(tmp_path)
    with opened(tmp_path) as idx:
        old = idx.store
        index(tmp_path, rebuild=True)  # another meta.sqlite
        reopening, go_on = threading.Event(), threading.Event()
        file_stamp = index_module._file_stamp

        def slow_file_stamp(db_url):
            reopening.set()
            assert go_on.wait(30)
            return file_stamp(db_url)

        monkeypatch.setattr(index_module, "_file_stamp", slow_file_stamp)
        first = threading.Thread(target=idx._refresh)
        first.start()
        assert reopening.wait(30)
        seen = []

        def second_search():
            idx._refresh()
            seen.append(idx.store)

        second = threading.Thread(target=second_search)
        second.start()
        second.join(0.5)  # it waits for the first refresh to finish (before: it read the old store at once)
        go_on.set()
        first.join(30)
        second.join(30)
    assert seen and seen[0] is not old


def test_an_open_reader_weighs_relaxed_queries_on_what_a_writer_added(tmp_path, archive_dir, monkeypatch):
    """The store counts its sentences once for relaxed queries (Store.lexical_search): a writer that adds to the
    same database and swaps in a new manifest has an open reader count them again."""
    from medsearch.store import lexical

    index(tmp_path)
    counted = []
    count = lexical.sentence_count
    monkeypatch.setattr(lexical, "sentence_count", lambda connection: counted.append(count(connection)) or counted[-1])
    query = "finding number 4 on chest film"  # only c4 says it all: fewer than k, so the match relaxes
    with opened(tmp_path) as idx:
        idx.search_text(query, k=50, target="text", mode="lexical")
        idx.search_text(query, k=50, target="text", mode="lexical")
        assert len(counted) == 1
        add_row(archive_dir, "added,,finding number 9 of a new report,,train,CC BY,")
        index(tmp_path)  # the same meta.sqlite, a new manifest
        idx.search_text(query, k=50, target="text", mode="lexical")
    assert len(counted) == 2 and counted[1] > counted[0]


@pytest.mark.slow
def test_kill_loop_benchmark_finds_nothing_lost(tmp_path):
    """Two rounds of benchmarks/kill_loop.py (the committed figures come from 30): real SIGKILLs of child runs."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "kill_loop.py"
    spec = importlib.util.spec_from_file_location("kill_loop", path)
    kill_loop = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kill_loop)
    totals = kill_loop.run(rounds=2, items=40, seed=3, work=tmp_path)
    assert totals["rounds"] == 2
    assert (totals["lost"], totals["duplicated"], totals["stale"], totals["verify_failed"]) == (0, 0, 0, 0)
    assert totals["reader_errors"] == 0 and totals["reader_queries"] > 0


def test_writers_read_the_manifest_once_per_run(tmp_path, archive_dir, monkeypatch):
    """A rerun of the indexer, a delete and a compact each read manifest.json once, under their lock, and pass it
    along (settling a killed compact, the store's URL, the model check)."""
    index(tmp_path)
    reads: list[str] = []
    read_text = Path.read_text

    def counted(path, *args, **kwargs):
        if path.name == "manifest.json":
            reads.append(path.name)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    runs = {"index": lambda: index(tmp_path),
            "delete": lambda: maintain.delete_items(tmp_path / "idx", keys=["c2"]),
            "compact": lambda: maintain.compact(tmp_path / "idx")}
    per_run = {}
    for name, run in runs.items():
        reads.clear()
        run()
        per_run[name] = len(reads)
    assert per_run == {"index": 1, "delete": 1, "compact": 1}
