"""What a new user trips on, command by command (found by trying the product): each test runs the CLI as a user
would, on a tiny index made here with the fake encoder, and checks the exit code and the one line it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import build_tiny_index, run_main
from medsearch import IndexOptions, build_index
from medsearch.archives import open_archive
from medsearch.cli import main
from medsearch.errors import BadQuery
from medsearch.models.fake import FakeEncoder
from test_harden_paths import good_rows, make_csv_archive


@pytest.fixture
def small_index(tmp_path) -> tuple[Path, list[dict]]:
    index_dir = tmp_path / "idx"
    return index_dir, build_tiny_index(index_dir, n=12)


@pytest.fixture
def csv_archive(tmp_path):
    """A CSV archive of three good rows in its own folder, tmp_path / "archive"."""
    return open_archive("csv", root=make_csv_archive(tmp_path / "archive", good_rows(3)))


def build(archive, index_dir: Path, **options):
    """build_index with the fake encoder and no progress display."""
    return build_index(archive, index_dir, FakeEncoder(), IndexOptions(progress=False, **options))


def stored_keys(index_dir: Path) -> set[str]:
    from indexer.maintain import list_items

    return {record.key for record in list_items(index_dir)}


def test_delete_with_an_empty_keys_file_deletes_nothing(small_index, tmp_path, capsys):
    # An empty --keys-file beside a filter or --archive used to widen the delete to every matching item.
    index_dir, items = small_index
    empty = tmp_path / "keys.txt"
    empty.write_text("\n  \n")
    for extra in (["--archive", "tiny"], ["--split", "test"], []):
        code, _, err = run_main(capsys, "delete", "--index", str(index_dir), "--keys-file", str(empty), *extra)
        assert code == 2, err
        assert "holds no keys" in err and len(err.strip().splitlines()) == 1
    assert stored_keys(index_dir) == {item["key"] for item in items}


def test_delete_with_a_missing_or_unreadable_keys_file_is_one_line(small_index, tmp_path, capsys):
    index_dir, items = small_index
    for path in (tmp_path / "nope.txt", tmp_path):  # missing; a folder
        code, _, err = run_main(capsys, "delete", "--index", str(index_dir), "--keys-file", str(path))
        assert code == 2, err
        assert err.startswith("error: cannot read --keys-file") and len(err.strip().splitlines()) == 1
    assert stored_keys(index_dir) == {item["key"] for item in items}


def test_delete_by_keys_file_with_a_filter_deletes_only_those_keys(small_index, tmp_path, capsys):
    index_dir, items = small_index
    keys = tmp_path / "keys.txt"
    keys.write_text("k000\nk003\n")  # k000 is train, k003 train too: both pass --split train
    code, out, err = run_main(capsys, "delete", "--index", str(index_dir), "--keys-file", str(keys), "--split", "train")
    assert code == 0, err
    assert "deleted 2 items" in out
    assert stored_keys(index_dir) == {item["key"] for item in items} - {"k000", "k003"}


@pytest.mark.parametrize("args", [
    ["index", "--manifest", "csv", "--batch-size", "0"],
    ["index", "--manifest", "csv", "--limit", "-1"],
    ["index", "--manifest", "csv", "--limit", "0"],
    ["index", "--manifest", "csv", "--workers", "-1"],
    ["index", "--manifest", "csv", "--actors", "0"],
    ["bench", "retrieval", "--manifest", "demo", "--pool", "0"],
    ["bench", "retrieval", "--manifest", "demo", "--pool", "-2"],
    ["bench", "retrieval", "--manifest", "demo", "--batch-size", "0"],
    ["bench", "retrieval", "--manifest", "demo", "--bootstrap", "-3"],
    ["serve", "--port", "70000"],
    ["serve", "--max-upload-mb", "0"],
    ["classify", "x.png", "--label", "a", "--label", "b", "--min-margin", "2"],
    ["train", "--manifest", "demo", "--root", ".", "--out", "run", "--dim", "0"],
    ["train", "--manifest", "demo", "--root", ".", "--out", "run", "--lr", "-1"],
    ["train", "--manifest", "demo", "--root", ".", "--out", "run", "--dropout", "1.5"],
])
def test_a_count_out_of_range_is_a_usage_error_not_a_traceback(args, tmp_path, capsys, monkeypatch):
    # These reached range(), islice(), numpy or the DataLoader and died there with a traceback.
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, *args)
    assert code == 2, err
    assert "Invalid value" in err and "Traceback" not in err


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"limit": -1}, {"workers": -1}, {"batch_size": 2.5}])
def test_index_options_refuse_counts_that_cannot_work(options):
    with pytest.raises(BadQuery):
        IndexOptions(**options)
    assert IndexOptions(batch_size=1, limit=1, workers=0).batch_size == 1


def test_serve_starts_on_an_index_that_holds_nothing_yet(tmp_path):
    # `medsearch serve` on the index a first run that found no item leaves behind died in warm_up with a
    # StopIteration traceback; it is served (a later run fills it) and a search there is a 400, never a 500.
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.search import open_index
    from medsearch.serve.app import create_app
    from medsearch.serve.services import warm_up

    root = tmp_path / "archive"
    root.mkdir()
    (root / "items.csv").write_text("id,image,text\n")
    summary = build(open_archive("csv", root=root), tmp_path / "idx")
    assert summary.indexed == 0  # `medsearch index` exits 10 here (NothingIndexed), the directory stays
    index = open_index(tmp_path / "idx", model="fake")
    warm_up(index)
    with TestClient(create_app(lambda: index)) as client:
        assert client.get("/api/info").json()["counts"]["items"] == 0
        answer = client.get("/api/search", params={"q": "pneumothorax"})
        assert answer.status_code == 400, answer.text
        assert "this index is empty" in answer.text  # not "no image vectors (it has: none)"


@pytest.mark.parametrize("content, says", [
    ("[]", 'holds no "groups" list'),
    ('{"groups": [{"id": 1, "queries": "two words"}]}', 'needs an "id" and a "queries" list of strings'),
    ('{"groups": [{"id": 1, "queries": ["only one"]}]}', "no group with two or more queries"),
])
def test_bench_phrasing_refuses_a_groups_file_of_another_shape(small_index, tmp_path, capsys, content, says):
    # a JSON list was a TypeError traceback; groups with no usable query ran and averaged nothing
    index_dir, _ = small_index
    groups = tmp_path / "groups.json"
    groups.write_text(content)
    code, _, err = run_main(capsys, "bench", "phrasing", "--index", str(index_dir), "--groups", str(groups),
                            "--out", str(tmp_path / "out"))
    assert code == 4, err
    assert says in err and len(err.strip().splitlines()) == 1


def test_bench_search_on_an_index_without_its_labels_is_an_error_not_an_empty_table(small_index, tmp_path, capsys):
    index_dir, _ = small_index
    out = tmp_path / "out"
    code, _, err = run_main(capsys, "bench", "search", "--index", str(index_dir), "--queries", "mesh",
                            "--out", str(out))
    assert code == 2, err
    assert "no judged query" in err and "IU X-ray" in err
    assert not out.exists()  # no JSON of nothing
    code, _, err = run_main(capsys, "bench", "search", "--index", str(index_dir), "--queries", "concepts",
                            "--captions", str(tmp_path / "nope.csv"), "--out", str(out))
    assert code == 4 and err.startswith("error: cannot read --captions"), err
    code, _, err = run_main(capsys, "bench", "search", "--index", str(index_dir), "--queries", "nope")
    assert code == 2 and "unknown query set 'nope' — choose one of: concepts, findings, mesh" in err, err


def test_train_refuses_an_out_that_is_a_file_before_any_work(tmp_path, capsys):
    # was a FileExistsError traceback from mkdir, after the tower features had been cached
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    code, _, err = run_main(capsys, "train", "--manifest", "csv", "--root", str(tmp_path / "nope"), "--out", str(out))
    assert code == 2, err
    assert "is a file, not a run directory" in err and out.read_text() == "mine"


def test_train_resume_with_no_checkpoint_says_it_starts_over(tmp_path, capsys, monkeypatch):
    import medsearch.train.run as train_run

    seen = []
    monkeypatch.setattr(train_run, "run", lambda request: seen.append(request) or {"test": None, "best_epoch": 1})
    code, _, err = run_main(capsys, "train", "--manifest", "csv", "--root", str(tmp_path),
                            "--out", str(tmp_path / "run"), "--resume")
    assert code == 0 and seen and seen[0].resume
    assert "nothing to resume" in err


def test_a_device_this_machine_cannot_run_is_one_line_at_load(capsys):
    # --device tpu / cuda on a machine without a GPU were torch tracebacks from the first batch of a run
    import torch

    from medsearch.errors import BadQuery, DeviceUnavailable
    from medsearch.models.registry import load_encoder

    for device in ("tpu", "cuda:x", "CPU"):
        with pytest.raises(BadQuery, match="unknown device"):
            load_encoder("fake", device=device)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailable, match="no CUDA GPU"):
            load_encoder("fake", device="cuda")
        code, _, err = run_main(capsys, "classify", "x.png", "--label", "a", "--label", "b", "--model", "fake",
                                "--device", "cuda")
        assert code == 3 and err.startswith("error: --device cuda: no CUDA GPU"), err
    assert load_encoder("fake", device="cpu").identity.device == "cpu"


def test_a_factory_faiss_cannot_build_is_refused_before_the_embedding(csv_archive, tmp_path):
    for factory in ("Nonsense42", "IVF2,PQ7"):  # unparsable; PQ7 does not divide 32
        with pytest.raises(BadQuery, match="is not a FAISS index"):
            build(csv_archive, tmp_path / "idx", factory=factory)
        assert not (tmp_path / "idx").exists()
    for factory, least in (("IVF64,Flat", 64), ("IVF2,PQ4", 256), ("IVF300,PQ8x4", 300), ("PQ8x6", 64)):
        with pytest.raises(BadQuery, match=f"cannot be trained on 3 vectors: it needs at least {least} "):
            build(csv_archive, tmp_path / "idx", factory=factory)


def test_compact_with_a_factory_rebuilds_even_when_nothing_is_dead(small_index, capsys):
    # `compact --factory F` returned early ("dropped 0 dead vectors") and kept the old indexes when no item had
    # been deleted: the documented flag did nothing
    from medsearch.index_dir import read_manifest

    index_dir, _ = small_index
    code, out, err = run_main(capsys, "compact", "--index", str(index_dir), "--factory", "HNSW16")
    assert code == 0, err
    assert {e.factory for e in read_manifest(index_dir).modalities.values()} == {"HNSW16"}
    code, _, err = run_main(capsys, "compact", "--index", str(index_dir), "--factory", "Nonsense42")
    assert code == 2 and "is not a FAISS index" in err, err
    code, _, err = run_main(capsys, "verify", "--index", str(index_dir))
    assert code == 0, err


def test_python_dash_m_medsearch_is_the_command(tmp_path):
    # `python -m medsearch` said "No module named medsearch.__main__"
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "medsearch", "ls", "--index", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr
    assert done.stderr.startswith("error: no index at")


def test_importing_medsearch_main_does_not_run_the_command(monkeypatch):
    # pydoc, doc builders and test crawlers import every module: medsearch/__main__.py ran the CLI on import
    import importlib
    import sys

    monkeypatch.setattr(sys, "argv", ["medsearch", "ls", "--index", "nope"])
    monkeypatch.delitem(sys.modules, "medsearch.__main__", raising=False)
    assert importlib.import_module("medsearch.__main__").main is main


def test_a_draft_from_cases_without_text_says_there_is_nothing_to_quote(tmp_path, capsys):
    # on an image-only archive (DICOM without reports) `draft` printed "SOURCES:" and the citations alone
    from conftest import tiny_item, write_test_index

    images = tmp_path / "images"
    images.mkdir()
    items = [{**tiny_item(i, images), "text": None, "labels": []} for i in range(4)]
    write_test_index(tmp_path / "idx", items, images)
    code, out, err = run_main(capsys, "draft", items[0]["image_path"], "--index", str(tmp_path / "idx"),
                              "--model", "fake", "--min-score", "-1")
    assert code == 0, err
    assert out.startswith("no sentence to quote") and "SOURCES:" in out


def test_a_filtered_search_that_finds_nothing_names_the_filter_value_no_item_has(small_index, capsys):
    # `--modality foo` / `--split nope` printed "no results" alone, as if the search had failed to match
    index_dir, _ = small_index
    code, out, err = run_main(capsys, "query", "nodule", "--index", str(index_dir), "--modality", "ultrasound",
                              "--split", "nope", "--licence", "CC BY*")
    assert code == 0, err
    assert "no results" in out
    assert "no item in this index has --modality 'ultrasound' (it has: CT, MR, XR)" in err
    assert "no item in this index has --split 'nope' (it has: test, train, val)" in err
    assert "--licence" not in err  # CC BY and CC BY-NC are there
    code, out, err = run_main(capsys, "query", "nodule", "--index", str(index_dir), "--modality", "MRI", "--json")
    assert code == 0 and json.loads(out) and err == ""


@pytest.mark.parametrize("url", ["nonsense://x", "not a url", "mysql://user@host/db"])
def test_a_db_url_medsearch_cannot_use_names_the_urls_it_can(small_index, capsys, url):
    # the hint was SQLite's "check that the folder exists and is writable" for any URL
    index_dir, _ = small_index
    code, _, err = run_main(capsys, "ls", "--index", str(index_dir), "--db", url)
    assert code == 8, err
    assert "give sqlite:///PATH/meta.sqlite or postgresql+psycopg://" in err and "writable" not in err
    # the same hint wherever a store fails, not only when SQLAlchemy refuses the URL (a driver that is installed)
    from medsearch.store.engine import URL_HINT, hint_for

    assert hint_for(url, OSError("Can't connect to MySQL server")) == URL_HINT


def test_classify_shows_progress_on_more_than_one_batch_of_files(tmp_path, capsys):
    # a folder of files was classified in silence until the table came
    from conftest import tiny_item

    from medsearch.classifier import BATCH_SIZE

    paths = [tiny_item(i, tmp_path)["image_path"] for i in range(BATCH_SIZE + 3)]
    code, _, err = run_main(capsys, "classify", *paths, "--label", "nodule", "--label", "normal", "--model", "fake")
    assert code == 0, err
    assert f"classifying {len(paths)}/{len(paths)} items (100%)" in err
    code, _, err = run_main(capsys, "classify", *paths[:2], "--label", "nodule", "--label", "normal", "--model", "fake")
    assert code == 0 and "classifying" not in err  # a few files: no progress line


def test_rebuild_never_deletes_files_that_are_not_the_index(csv_archive, tmp_path):
    # `index --root A --index A` wrote the index among the archive's files, and `--rebuild` then swapped the
    # folder out and deleted it: the archive's CSV and images were gone
    root = tmp_path / "archive"
    before = sorted(p.name for p in root.rglob("*"))
    for rebuild in (False, True):
        with pytest.raises(BadQuery, match="holds other files|would delete them"):
            build(csv_archive, root, rebuild=rebuild)
    assert sorted(p.name for p in root.rglob("*")) == before
    # an index with a user's file dropped in: updated as before, but a rebuild is refused
    index_dir = tmp_path / "idx"
    build(csv_archive, index_dir)
    (index_dir / "notes.txt").write_text("mine")
    assert build(csv_archive, index_dir).unchanged == 3
    with pytest.raises(BadQuery, match=r"\(notes.txt\); --rebuild replaces the whole folder"):
        build(csv_archive, index_dir, rebuild=True)
    (index_dir / "notes.txt").unlink()
    assert build(csv_archive, index_dir, rebuild=True).indexed == 3


def test_an_index_path_that_cannot_be_a_folder_is_one_line(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    for index, says in ((a_file, "is a file, not an index directory"),
                        (a_file / "idx", "cannot write the index directory")):
        code, _, err = run_main(capsys, "index", "--manifest", "demo", "--index", str(index), "--model", "fake")
        assert code == 2 and says in err, err
    assert a_file.read_text() == "mine"


def test_delete_and_compact_on_a_mistyped_index_leave_no_folder_behind(tmp_path, capsys):
    documents = tmp_path / "documents"  # a folder of the user's, given as --index by mistake
    documents.mkdir()
    (documents / "notes.txt").write_text("mine")
    for command in (["delete", "--key", "k1"], ["compact"]):
        code, _, err = run_main(capsys, *command, "--index", str(tmp_path / "typo"))
        assert code == 5 and "no index at" in err, err
        assert not (tmp_path / "typo").exists()
        code, _, err = run_main(capsys, *command, "--index", str(documents))
        assert code == 5 and "no index at" in err, err
        assert sorted(p.name for p in documents.iterdir()) == ["notes.txt"]  # no .lock left there


def test_a_killed_writers_files_are_the_index_own(tmp_path):
    from medsearch.index_dir import foreign_entries

    for name in ("image.v1.faiss.tmp", "text_vectors.g2.npy.tmp", "manifest.json.tmp", "meta.sqlite-journal",
                 "image_vectors.npy", "skipped.jsonl", ".lock", "notes.txt",
                 ".env", "meta.sqlite.bak", "manifest.json.orig"):  # a user's, though hidden or named alike
        (tmp_path / name).write_text("")
    (tmp_path / "images").mkdir()
    (tmp_path / ".git").mkdir()
    assert foreign_entries(tmp_path) == [".env", ".git/", "images/", "manifest.json.orig", "meta.sqlite.bak",
                                         "notes.txt"]


def test_rebuild_never_deletes_a_users_hidden_files(csv_archive, tmp_path):
    # foreign_entries left hidden names out, so `--rebuild` of an index kept in a git checkout swapped the
    # folder out and deleted .git with it
    index_dir = tmp_path / "idx"
    build(csv_archive, index_dir)
    (index_dir / ".git").mkdir()
    (index_dir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    with pytest.raises(BadQuery, match=r"\(\.git/\); --rebuild replaces the whole folder"):
        build(csv_archive, index_dir, rebuild=True)
    assert (index_dir / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    (index_dir / ".git" / "HEAD").unlink()
    (index_dir / ".git").rmdir()
    assert build(csv_archive, index_dir, rebuild=True).indexed == 3


@pytest.mark.parametrize("flag", [["--mode", "lexical"], ["--no-expand"], ["--no-ensemble"], ["--no-negation"]])
def test_text_query_flags_with_an_image_are_refused_not_ignored(small_index, capsys, flag):
    # `query --image X --mode lexical` ran an image search and said nothing of the mode
    index_dir, items = small_index
    code, _, err = run_main(capsys, "query", "--image", items[0]["image_path"], "--index", str(index_dir), *flag)
    assert code == 2, err
    assert f"{flag[0]} apply to text queries, not to --image" in err


def test_a_killed_first_run_with_its_sqlite_db_in_the_folder_resumes(csv_archive, tmp_path):
    # `--index idx --db sqlite:///idx/store.db` killed before its first manifest: store.db was "other files and
    # no index", so the run could not resume; a --rebuild there is still refused, since it would delete the store
    index_dir = tmp_path / "idx"
    db_url = f"sqlite:///{index_dir}/store.db"
    assert build(csv_archive, index_dir, db_url=db_url).indexed == 3
    (index_dir / "manifest.json").unlink()  # killed before the manifest was swapped in
    (index_dir / "store.db-journal").write_text("")
    assert build(csv_archive, index_dir, db_url=db_url).seen == 3
    with pytest.raises(BadQuery, match=r"store.db.*would delete them"):
        build(csv_archive, index_dir, rebuild=True, db_url=db_url)
    assert (index_dir / "store.db").exists()


def test_absent_filter_values_follow_the_search_rules():
    # the lines come from Filters.admits, the rule the post-filter applies, not from a copy of it
    from medsearch.commands.query import absent_filter_values
    from medsearch.store.filters import Filters

    facets = {"modalities": {"CT": 3, "unknown": 1}, "splits": {"train": 2}, "licences": {"CC BY-NC": 2}}
    assert absent_filter_values(facets, Filters(modality="computed tomography", split="train",
                                                licence="CC BY*")) == []
    assert absent_filter_values(facets, Filters(modality="unknown", licence="CC BY-NC")) == []
    assert absent_filter_values({"modalities": {"CT": 3}}, Filters(modality="unknown", licence="CC BY")) == [
        "no item in this index has --modality 'unknown' (it has: CT)",
        "no item in this index has --licence 'CC BY' (it has: none)"]


def test_rebuild_never_deletes_a_users_folder_named_like_its_build_folder(csv_archive, tmp_path):
    # --rebuild removed <index>.rebuild as a killed rebuild's leftovers, whatever it held
    index_dir, beside = tmp_path / "idx", tmp_path / "idx.rebuild"
    build(csv_archive, index_dir)
    beside.mkdir()
    (beside / "notes.txt").write_text("mine")
    with pytest.raises(BadQuery, match="not a killed rebuild's"):
        build(csv_archive, index_dir, rebuild=True)
    assert (beside / "notes.txt").read_text() == "mine"
    (beside / "notes.txt").unlink()
    (beside / "image_vectors.npy").write_text("")  # a killed rebuild's own files are cleared as before
    assert build(csv_archive, index_dir, rebuild=True).indexed == 3
    assert not beside.exists()


def test_rebuild_of_the_current_directory_is_refused_before_any_work(csv_archive, tmp_path, monkeypatch):
    # `cd idx && medsearch index ... --index . --rebuild` built idx.rebuild, then died in the swap with
    # "PosixPath('.') has an empty name"
    build(csv_archive, tmp_path / "idx")
    monkeypatch.chdir(tmp_path / "idx")
    for index_dir in (Path("."), tmp_path):
        with pytest.raises(BadQuery, match="holds the current directory"):
            build(csv_archive, index_dir, rebuild=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "idx"]


def test_only_the_files_an_index_names_are_its_own(csv_archive, tmp_path):
    # is_index_file took any *.faiss and any *_vectors*.npy for the index's: a user's embeddings.faiss kept in the
    # index folder was deleted by the next write (remove_unreferenced), and --rebuild swapped the folder out with it
    from medsearch.index_dir import faiss_file_name, foreign_entries, is_index_file, vectors_file_name

    for modality in ("image", "text"):
        for n in (0, 1, 12):
            assert is_index_file(faiss_file_name(modality, n)) and is_index_file(vectors_file_name(modality, n))
    users = ("embeddings.faiss", "clip.faiss", "my_vectors.npy", "old_vectors.g2.npy", "case_vectors.npy",
             "image.v0.faiss", "image.v01.faiss", "image.g1.faiss", "image_vectors.faiss", "image_vectors.v1.npy",
             "text_vectors.g0.npy", "image_vectors.npy.bak", "Image.faiss")
    assert not any(is_index_file(name) for name in users)
    index_dir = tmp_path / "idx"
    build(csv_archive, index_dir)
    for name in users:
        (index_dir / name).write_text("mine")
    assert foreign_entries(index_dir) == sorted(users)
    table = tmp_path / "archive" / "items.csv"
    table.write_text(table.read_text().replace("chest film", "chest radiograph"))
    assert build(csv_archive, index_dir).indexed == 3  # a write: the files the old manifest named are removed
    assert all((index_dir / name).read_text() == "mine" for name in users)
    with pytest.raises(BadQuery, match="would delete them"):
        build(csv_archive, index_dir, rebuild=True)
    assert all((index_dir / name).read_text() == "mine" for name in users)


def test_every_json_output_comes_from_one_printer(small_index, tmp_path, capsys, monkeypatch):
    # ls, info and query each printed JSON with their own json.dumps, a copy of teaching.show.print_json
    from conftest import tiny_item

    from medsearch.commands import json_output

    printed = []
    real = json_output.print_json
    monkeypatch.setattr(json_output, "print_json", lambda payload: (printed.append(payload), real(payload)))
    index = ["--index", str(small_index[0])]
    image = tiny_item(0, tmp_path)["image_path"]
    for command in (["ls", *index], ["info", *index], ["query", "nodule", *index, "--model", "fake"],
                    ["query", "nodule", *index, "--model", "fake", "--diverse"],
                    ["classify", image, "--label", "nodule", "--label", "normal", "--model", "fake"]):
        code, out, err = run_main(capsys, *command, "--json")
        assert code == 0, err
        assert len(printed) == 1 and json.loads(out) == json.loads(json.dumps(printed.pop(), default=str)), command


def test_the_count_limits_of_an_indexing_run_are_declared_once():
    # --batch-size / --workers / --limit / --actors carried min=1/0/1/1 and IndexOptions restated them
    import typer

    from indexer.engines import make_embedder
    from indexer.limits import LEAST
    from medsearch.cli import app

    options = {p.name: p for p in typer.main.get_command(app).commands["index"].params}
    assert {name: options[name].min for name in LEAST} == LEAST
    for name, least in LEAST.items():
        if name == "actors":  # an engine's option, not the run's
            with pytest.raises(BadQuery, match=f"actors must be a whole number >= {least}"):
                make_embedder("ray", FakeEncoder(), 8, actors=least - 1)
            continue
        with pytest.raises(BadQuery, match=f"{name} must be a whole number >= {least}"):
            IndexOptions(**{name: least - 1})
        assert getattr(IndexOptions(**{name: least}), name) == least


def test_any_device_torch_names_is_taken_or_refused_as_unavailable(small_index, capsys):
    # check_device knew auto, cpu, cuda[:N] and mps only: `--device cpu:0` and `mps:0`, which torch takes, were
    # "unknown device"; a device torch names but this machine cannot run is DeviceUnavailable (exit 3)
    import torch

    from medsearch.errors import DeviceUnavailable
    from medsearch.models.registry import load_encoder

    assert load_encoder("fake", device="cpu:0").identity.device == "cpu"  # torch's CPU is one device
    unavailable = ["meta"] + (["mps:0", "mps"] if not torch.backends.mps.is_available() else ["mps:1"])
    unavailable += ["xpu"] if not (hasattr(torch, "xpu") and torch.xpu.is_available()) else []
    for device in unavailable:
        with pytest.raises(DeviceUnavailable, match=f"--device {device}: "):
            load_encoder("fake", device=device)
    code, out, err = run_main(capsys, "query", "nodule", "--index", str(small_index[0]), "--model", "fake",
                              "--device", "cpu:0", "--json")
    assert code == 0 and json.loads(out), err
