"""Found by using every command as a hospital data team, a researcher and an educator would (session 5 user QA):
each test reproduces one defect on tiny data made here, with the fake encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsearch.archives import open_archive
from medsearch.errors import IndexMismatch
from medsearch.models.fake import FakeEncoder
from indexer.pipeline import IndexOptions, build_index
from test_harden_paths import good_rows, make_csv_archive


def other_manifest(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nreader = "csv"\n[source]\ntable = "items.csv"\n'
                    '[fields]\nid = "id"\nimage = "image"\ntext = "text"\n')
    return path


def test_a_second_index_directory_over_a_database_holding_another_archive_is_refused(tmp_path, store_url):
    # Two index directories pointed at one --db: the second one's vector ids (0, 1, ...) collided with the first's,
    # so the first index answered with the second archive's items, and `verify` passed on both.
    first_archive = open_archive(other_manifest(tmp_path, "ward-a"), make_csv_archive(tmp_path / "a", good_rows(3)))
    second_archive = open_archive(other_manifest(tmp_path, "ward-b"), make_csv_archive(tmp_path / "b", good_rows(2)))
    options = IndexOptions(db_url=store_url, workers=0, progress=False)
    assert build_index(first_archive, tmp_path / "idx1", FakeEncoder(), options).indexed == 3
    for _ in range(2):  # the refused run leaves nothing that lets a second try through
        with pytest.raises(IndexMismatch, match="another index directory"):
            build_index(second_archive, tmp_path / "idx2", FakeEncoder(), options)
    from medsearch.search import open_index

    with open_index(tmp_path / "idx1", model=FakeEncoder(), db_url=store_url) as index:
        assert index.store.counts()["archives"] == 1  # the refused run added no archive row to the other's store
        keys = {hit.key for hit in index.search_text("finding 1 on a chest film", k=10)}
    assert keys == {"c0", "c1", "c2"}
    # one directory holding two archives stays possible
    assert build_index(second_archive, tmp_path / "idx1", FakeEncoder(), options).indexed == 2


def test_broken_and_unmatched_rows_of_a_dicom_report_table_are_recorded_with_their_lines(tmp_path):
    # A report table's broken rows (wrong field count, an unterminated quote) were read as reports (or vanished)
    # without a word; a report whose key no DICOM file has was dropped silently; and a report spanning two lines
    # put every later row's line number off by one.
    from dicom_factory import write_dicom

    for name, accession in (("a.dcm", "ACC1"), ("b.dcm", "ACC2")):
        write_dicom(tmp_path / "dicom" / name, StudyInstanceUID="1.2.826.0.1.99", Modality="CR", AccessionNumber=accession)
    (tmp_path / "reports.csv").write_text(
        "accession,report,split\n"
        'ACC1,"Clear lungs.\nNo effusion.",train\n'   # lines 2-3
        "ACC9,A report for a study not in the folder.,train\n"   # line 4
        "ACC3,too few fields\n"   # line 5
        'ACC2,Small nodule.,test\n'   # line 6
        'ACC4,"never closed,train\n'   # line 7
    )
    (tmp_path / "mine.toml").write_text(
        'name = "ward"\nreader = "dicom-folder"\n[source]\nimages = "dicom"\nreports = "reports.csv"\n'
        'report_key = "AccessionNumber"\nreport_key_column = "accession"\n[fields]\ntext = "report"\nsplit = "split"\n')
    archive = open_archive(tmp_path / "mine.toml", tmp_path)
    texts = sorted(item.text for item in archive.items())
    assert texts == ["Clear lungs.\nNo effusion.", "Small nodule."]
    reasons = {s.where: s.reason for s in archive.skipped}
    assert reasons == {
        "reports.csv:4": "report matches no DICOM file (no file has its AccessionNumber)",
        "reports.csv:5": "unparsable row: 2 fields, header has 3",
        "reports.csv:7": "unparsable row: unexpected end of data",
    }
    assert "ACC9" not in str(archive.skipped)  # an accession number is PHI: never in a skip report


def test_a_model_given_as_a_folder_without_its_prefix_says_to_write_local_dir(tmp_path, capsys):
    from conftest import run_main

    (tmp_path / "biomedclip").mkdir()
    code, _, err = run_main(capsys, "classify", str(tmp_path / "x.png"), "--label", "a", "--label", "b",
                            "--model", str(tmp_path / "biomedclip"))
    assert code == 2
    assert f"--model local-dir:{tmp_path / 'biomedclip'}" in err and len(err.strip().splitlines()) == 1


def test_a_training_run_of_the_default_model_loads_as_local_dir(tmp_path):
    # `medsearch train --manifest ... --out RUN` (the default model) wrote RUN/medsearch-default.safetensors, and
    # then nothing took it: --model local-dir:RUN said "open_clip config missing", and train's last line named
    # no way to use the weights.
    import shutil

    from medsearch.models.default import RUN_WEIGHTS, WEIGHTS, fingerprint
    from medsearch.models.registry import resolve

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(WEIGHTS, run / RUN_WEIGHTS)
    encoder = resolve(f"local-dir:{run}").load(device="cpu")
    assert encoder.model_id == f"medsearch-default@{fingerprint(WEIGHTS)}"  # its weights' fingerprint
    assert encoder.weights == run / RUN_WEIGHTS and encoder.identity.name == f"local-dir:{run}"


def test_help_text_keeps_its_square_brackets():
    # rich read "(extra [ray])" in `index --help` as a style tag and printed "(extra )".
    import re

    from typer.testing import CliRunner

    from medsearch.cli import app
    from test_cli_options import all_commands
    from typer.main import get_command

    root = get_command(app)
    for command in all_commands():
        click_command = root
        for name in command:
            click_command = click_command.commands[name]
        texts = [click_command.help or ""] + [getattr(p, "help", None) or "" for p in click_command.params]
        shown = " ".join(CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "4000"}).output.split())
        for text in texts:
            for bracketed in re.findall(r"\[[^\]\s]*\]", text):
                assert bracketed in shown, (command, bracketed)


def test_the_python_api_says_what_it_is(tmp_path):
    # print(open_index(...)) showed "<medsearch.search.index.Index object at 0x7f...>", and help() on
    # load_encoder, list_models, Index.item, Index.embed_image, Index.close, Index.store, Index.encoder said nothing.
    import inspect

    import medsearch
    from conftest import build_tiny_index
    from medsearch.search import Index

    build_tiny_index(tmp_path / "idx", n=4)
    with medsearch.open_index(tmp_path / "idx") as index:
        shown = repr(index)
    assert str(tmp_path / "idx") in shown and "fake-32" in shown and "4 items" in shown
    undocumented = [name for name in medsearch.__all__ if callable(getattr(medsearch, name))
                    and not inspect.getdoc(getattr(medsearch, name))]
    undocumented += [f"Index.{name}" for name, member in vars(Index).items() if not name.startswith("_")
                     and (callable(member) or isinstance(member, property)) and not inspect.getdoc(member)]
    assert undocumented == []


def test_a_delete_that_finds_nothing_to_delete_says_so_and_fails(tmp_path, capsys):
    # `delete --key typo` (or a filter no item matches) printed "deleted 0 items" and exited 0: a script could not
    # tell a mistyped key from a done delete.
    from conftest import build_tiny_index, run_main

    items = build_tiny_index(tmp_path / "idx", n=4)
    index = str(tmp_path / "idx")
    code, _, err = run_main(capsys, "delete", "--index", index, "--key", "nope", "--key", "nope2")
    assert code == 8 and "none of the 2 keys is in the index" in err and "medsearch ls" in err
    code, _, err = run_main(capsys, "delete", "--index", index, "--split", "nosuchsplit")
    assert code == 8 and "no item matches" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_main(capsys, "delete", "--index", index, "--key", items[0]["key"], "--key", "nope")
    assert code == 0 and "deleted 1 items" in out and "1 keys not in the index: nope" in err


def test_skipped_dicom_files_named_by_key_say_how_to_see_their_paths(tmp_path, capsys):
    # The summary listed skipped DICOM files as "dcm-4afb57f5..." only: a key of a file that is not in the index,
    # which no command could turn back into a file. It now says --show-paths names them.
    from conftest import run_main
    from dicom_factory import write_dicom

    import numpy as np

    pixels = (np.arange(32 * 32).reshape(32, 32) % 256).astype(np.uint8)
    write_dicom(tmp_path / "archive" / "a.dcm", pixels, StudyInstanceUID="1.2.826.0.1.7", Modality="CT")
    (tmp_path / "archive" / "notes.txt").write_text("not an image")
    args = ["index", "--manifest", "dicom-folder", "--root", str(tmp_path / "archive"), "--model", "fake"]
    code, out, err = run_main(capsys, *args, "--index", str(tmp_path / "idx"))
    assert code == 0 and "notes.txt" not in out + err
    assert "rerun with --show-paths" in err
    code, out, err = run_main(capsys, *args, "--index", str(tmp_path / "idx2"), "--show-paths")
    assert code == 0 and "notes.txt" in out and "--show-paths" not in err


def test_an_index_whose_store_file_is_gone_says_missing_and_creates_nothing(tmp_path, capsys):
    # `ls`, `info`, `verify`, `compact` and `delete` on an index without its meta.sqlite created an empty one and
    # said "is empty, not a medsearch metadata store" (after which `query` said so too); `query` said "missing".
    from conftest import build_tiny_index, run_main
    from medsearch.errors import StoreError
    from medsearch.store import Store

    build_tiny_index(tmp_path / "idx", n=4)
    store_file = tmp_path / "idx" / "meta.sqlite"
    store_file.unlink()
    for command in (["ls"], ["info"], ["verify"], ["compact"], ["delete", "--key", "x"], ["query", "lung"]):
        code, _, err = run_main(capsys, *command, "--index", str(tmp_path / "idx"))
        assert code == 7 and "meta.sqlite is missing from the index directory" in err, (command, err)
        assert not store_file.exists(), command
    with pytest.raises(StoreError, match="no database file"):
        Store.open(f"sqlite:///{tmp_path / 'typo.sqlite'}", create=False)
    assert not (tmp_path / "typo.sqlite").exists()


def test_classify_names_only_the_review_thresholds_in_force(tmp_path, capsys):
    # The table's footer read "review below probability 0 or margin 0.75" (the shipped probability threshold is
    # 0: never).
    import numpy as np
    from PIL import Image

    from conftest import run_main

    Image.fromarray((np.arange(32 * 32).reshape(32, 32) % 256).astype(np.uint8)).save(tmp_path / "film.png")
    args = ["classify", str(tmp_path / "film.png"), "--label", "a", "--label", "b", "--model", "fake",
            "--min-margin", "0.5"]
    code, out, _ = run_main(capsys, *args, "--min-probability", "0")
    assert code == 0 and "review below margin 0.5" in " ".join(out.split()) and "probability 0 " not in out
    code, out, _ = run_main(capsys, *args, "--min-probability", "0.6")
    assert "review below probability 0.6 or margin 0.5" in " ".join(out.split())


def test_a_file_classify_could_not_read_says_why_it_needs_review(tmp_path):
    # A file that could not be read came back needs_review=True with no review_reasons.
    from medsearch import classify

    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    bad = classify([tmp_path / "broken.png"], labels=["a", "b"], encoder=FakeEncoder())[0]
    assert bad.error and bad.needs_review and bad.review_reasons == ["not classified: the file could not be read"]


def test_too_few_training_pairs_names_the_real_cause(tmp_path):
    # `train` on an archive with one train row said "only 1 training pairs after the licence filter" when no
    # licence filter was given.
    from medsearch.errors import BadArchive
    from medsearch.train.run import check_training_rows, split_rows

    rows = split_rows(["train", "test", "val"], ["CC BY", "CC BY", "CC BY"], None)
    with pytest.raises(BadArchive) as caught:
        check_training_rows("mine", rows, None)
    assert "licence" not in caught.value.one_line() and "at least 2" in str(caught.value)
    assert "split" in caught.value.hint
    rows = split_rows(["train"] * 4 + ["val"], ["CC BY-NC"] * 5, ("CC BY", "CC0"))
    with pytest.raises(BadArchive, match="licence CC BY, CC0") as caught:
        check_training_rows("mine", rows, ("CC BY", "CC0"))
    assert "--redistributable" in caught.value.hint


def test_the_builtin_dicom_folder_manifest_joins_a_reports_csv_in_the_root(tmp_path):
    # README: `medsearch index --manifest dicom-folder --root /archive/dicom  # DICOM files (+ reports CSV)`. The
    # built-in manifest joined nothing: ROOT/reports.csv was skipped as "not a DICOM file" and every item had no text.
    import numpy as np

    from dicom_factory import write_dicom

    pixels = (np.arange(16 * 16).reshape(16, 16) % 256).astype(np.uint8)
    write_dicom(tmp_path / "p1" / "IM1", pixels, StudyInstanceUID="1.2.826.0.1.1", Modality="CR")
    write_dicom(tmp_path / "p2" / "IM1", pixels, StudyInstanceUID="1.2.826.0.1.2", Modality="CT")
    (tmp_path / "reports.csv").write_text("StudyInstanceUID,report\n1.2.826.0.1.1,No pneumothorax.\n"
                                         "1.2.826.0.1.2,Small left pleural effusion.\n")
    archive = open_archive("dicom-folder", tmp_path)
    texts = sorted(item.text for item in archive.items())
    assert texts == ["No pneumothorax.", "Small left pleural effusion."] and archive.skipped == []
    (tmp_path / "reports.csv").unlink()  # none there: image-only items, as before
    archive = open_archive("dicom-folder", tmp_path)
    assert [item.text for item in archive.items()] == [None, None] and archive.skipped == []


def test_info_never_shows_the_database_password(tmp_path, capsys):
    # `info` (table and --json) and Index.info() printed --db postgresql+psycopg://user:PASSWORD@host/db verbatim.
    from conftest import build_tiny_index, run_main
    from medsearch.index_dir import read_manifest, write_manifest
    from medsearch.search import open_index

    build_tiny_index(tmp_path / "idx", n=3)
    manifest = read_manifest(tmp_path / "idx")  # an index whose manifest names a database URL with a password
    manifest.db_url = "postgresql+psycopg://ward:s3cret@db.example/medsearch"
    write_manifest(tmp_path / "idx", manifest)
    sqlite_url = f"sqlite:///{tmp_path / 'idx' / 'meta.sqlite'}"
    with open_index(tmp_path / "idx", db_url=sqlite_url) as index:
        _ = index.store  # opened on the SQLite file; then named as if it were the PostgreSQL one
        index.db_url = "postgresql+psycopg://ward:s3cret@db.example/medsearch"
        shown = str(index.info())
    assert "s3cret" not in shown and "ward:***@db.example" in shown
    for extra in ([], ["--json"]):
        code, out, err = run_main(capsys, "info", "--index", str(tmp_path / "idx"), "--db", sqlite_url, *extra)
        assert code == 0 and "s3cret" not in out + err
    assert "ward:***@db.example" in out  # --json: the manifest's URL, password hidden


def test_a_hit_without_text_shows_what_it_is_in_the_table(tmp_path, capsys):
    # A DICOM folder without reports: every row of `query` was a key and two empty columns ("dcm-39d1...  |  |"),
    # so an educator could not tell a chest film from a knee MR without --json.
    import numpy as np

    from conftest import run_main
    from dicom_factory import write_dicom

    pixels = (np.arange(16 * 16).reshape(16, 16) % 256).astype(np.uint8)
    write_dicom(tmp_path / "archive" / "a.dcm", pixels, StudyInstanceUID="1.2.826.0.1.1", Modality="CT",
                BodyPartExamined="CHEST", StudyDescription="CT THORAX", PatientName="Doe^Jane")
    code, _, _ = run_main(capsys, "index", "--manifest", "dicom-folder", "--root", str(tmp_path / "archive"),
                          "--index", str(tmp_path / "idx"), "--model", "fake")
    assert code == 0
    code, out, _ = run_main(capsys, "query", "chest", "--index", str(tmp_path / "idx"))
    assert code == 0 and "CT · CHEST · CT THORAX" in out and "Doe" not in out


def test_a_misspelt_filter_name_lists_the_filters_there_are(tmp_path):
    # filters={"modalty": "CT"} said "Filters.__init__() got an unexpected keyword argument 'modalty'".
    from conftest import build_tiny_index
    from medsearch.errors import BadQuery
    from medsearch.search import open_index

    build_tiny_index(tmp_path / "idx", n=3)
    with open_index(tmp_path / "idx") as index:
        with pytest.raises(BadQuery) as caught:
            index.search_text("lung", k=2, filters={"modalty": "CT"})
    assert "'modalty'" in str(caught.value) and "__init__" not in str(caught.value)
    assert caught.value.hint == "filters take: modality, labels, split, licence"


def test_a_run_that_reads_nothing_prunes_nothing(tmp_path, capsys):
    # Re-indexing against an empty (say, unmounted) --root, or a table cut to its header, pruned every item of
    # the index ("pruned (gone from the archive) 23"), then said "nothing indexed ... check --root": the index was
    # emptied by the run that could not read the archive.
    from conftest import run_main
    from indexer.maintain import list_items

    root = make_csv_archive(tmp_path / "archive", good_rows(3))
    args = ["index", "--manifest", "csv", "--root", str(root), "--index", str(tmp_path / "idx"), "--model", "fake"]
    assert run_main(capsys, *args)[0] == 0
    (root / "items.csv").write_text("id,image,text,labels,split,licence,modality\n")  # the export failed
    code, _, err = run_main(capsys, *args)
    assert code == 10 and "the index keeps its 3 items" in err
    assert len(list_items(tmp_path / "idx")) == 3
    make_csv_archive(root, [[f"c{i}", f"images/gone{i}.png", "x", "", "", "", ""] for i in range(3)])
    code, _, err = run_main(capsys, *args)  # every row skipped (images folder not there)
    assert code == 10 and "the index keeps its 3 items" in err
    assert len(list_items(tmp_path / "idx")) == 3
    make_csv_archive(root, good_rows(2))  # a row that left a readable archive is still pruned
    assert run_main(capsys, *args)[0] == 0 and len(list_items(tmp_path / "idx")) == 2


def test_the_bench_summary_names_all_four_benches():
    # `medsearch --help` said bench evaluates "retrieval recall, zero-shot classification, phrasing robustness":
    # `bench search` (search quality per mode) was missing from the list.
    from typer.testing import CliRunner

    from medsearch.cli import app

    shown = " ".join(CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"}).output.split())
    assert "phrasing robustness, search quality per mode" in shown


def test_a_table_row_that_is_not_utf8_is_recorded_and_the_encoding_can_be_named(tmp_path):
    # A CSV saved as Windows-1252 (an Excel export) was read with every accented letter turned into U+FFFD,
    # silently: "Épanchement" was stored as "\ufffdpanchement", unsearchable, and the run said nothing.
    root = make_csv_archive(tmp_path / "archive", [])
    (root / "items.csv").write_bytes(
        b"id,image,text\n"
        b'c0,images/img0.png,"\xc9panchement pleural droit"\n'
        b"c1,images/img1.png,Normal chest\n")
    manifest = tmp_path / "mine.toml"
    manifest.write_text('name = "mine"\nreader = "csv"\n[source]\ntable = "items.csv"\n'
                        '[fields]\nid = "id"\nimage = "image"\ntext = "text"\n')
    archive = open_archive(manifest, root)
    assert [item.key for item in archive.items()] == ["c1"]
    (skipped,) = archive.skipped
    assert skipped.where == "items.csv:2" and "not UTF-8" in skipped.reason and 'encoding = "cp1252"' in skipped.reason
    manifest.write_text(manifest.read_text().replace('table = "items.csv"\n', 'table = "items.csv"\nencoding = "cp1252"\n'))
    archive = open_archive(manifest, root)
    assert [item.text for item in archive.items()] == ["Épanchement pleural droit", "Normal chest"]
    assert archive.skipped == []
    jsonl = tmp_path / "j"
    jsonl.mkdir()
    (jsonl / "items.jsonl").write_bytes(b'{"id": "a", "text": "d\xe9fect"}\n{"id": "b", "text": "ok"}\n')
    archive = open_archive("jsonl", jsonl)
    assert [item.key for item in archive.items()] == ["b"] and archive.skipped[0].where == "items.jsonl:1"
    manifest.write_text(manifest.read_text().replace('encoding = "cp1252"', 'encoding = "klingon"'))
    from medsearch.errors import BadArchive

    with pytest.raises(BadArchive, match="unknown encoding 'klingon'"):
        list(open_archive(manifest, root).items())


def test_a_misspelt_source_key_is_refused_naming_the_keys_the_reader_reads(tmp_path):
    # [source] delimeter = ";" was ignored in silence (the table was then read with commas); top-level keys and
    # [fields] were already checked.
    from medsearch.archives import list_archives
    from medsearch.errors import BadArchive

    root = tmp_path / "archive"
    root.mkdir()
    (root / "items.csv").write_text("id;image;text\na;;Normal chest\n")
    manifest = tmp_path / "mine.toml"
    manifest.write_text('name = "mine"\nreader = "csv"\n[source]\ntable = "items.csv"\ndelimeter = ";"\n'
                        '[fields]\nid = "id"\nimage = "image"\ntext = "text"\n')
    with pytest.raises(BadArchive) as caught:
        open_archive(manifest, root)
    assert "unknown [source] key(s) delimeter" in str(caught.value) and "delimiter" in caught.value.hint
    manifest.write_text(manifest.read_text().replace("delimeter", "delimiter"))
    assert [item.text for item in open_archive(manifest, root).items()] == ["Normal chest"]
    from medsearch.archives.manifest import load_manifest
    from medsearch.archives.manifest import builtin_manifest_paths
    from medsearch.archives.registry import reader_class

    for name, path in builtin_manifest_paths().items():  # every built-in manifest's keys are its reader's
        m = load_manifest(path)
        assert set(m.source) <= reader_class(m.reader).source_keys, name
    assert list_archives()


def test_a_row_whose_image_is_missing_for_now_is_not_pruned(tmp_path, capsys):
    # Re-indexing while part of the images was unreachable (a share not mounted) skipped those rows, rightly,
    # and then pruned their items as if the rows had left the archive: still in the table, gone from the index.
    from conftest import run_main
    from indexer.maintain import list_items

    root = make_csv_archive(tmp_path / "archive", good_rows(3))
    args = ["index", "--manifest", "csv", "--root", str(root), "--index", str(tmp_path / "idx"), "--model", "fake"]
    assert run_main(capsys, *args)[0] == 0
    (root / "images" / "img1.png").rename(tmp_path / "away.png")
    code, out, err = run_main(capsys, *args)
    assert code == 0 and "image file not found: images/img1.png" in out
    assert {record.key for record in list_items(tmp_path / "idx")} == {"c0", "c1", "c2"}
    make_csv_archive(root, [good_rows(3)[0], good_rows(3)[2]])  # the row itself leaves: its item goes
    assert run_main(capsys, *args)[0] == 0
    assert {record.key for record in list_items(tmp_path / "idx")} == {"c0", "c2"}
