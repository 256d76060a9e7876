"""Issue 8, paths and exit codes: relative roots with '..', symlinks escaping the root, runs that index nothing,
a fresh index directory over a database that already holds the archive, very long CSV fields."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from medsearch.archives import open_archive
from medsearch.cli import app
from medsearch.errors import IndexMismatch, NothingIndexed
from medsearch.models.fake import FakeEncoder

from conftest import run_main
from indexer.pipeline import IndexOptions, build_index

COLUMNS = ["id", "image", "text", "labels", "split", "licence", "modality"]


def make_csv_archive(root: Path, rows: list[list[str]], images: int = 3) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        pixels = (np.arange(32 * 32).reshape(32, 32) * (i + 3) % 256).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").save(root / "images" / f"img{i}.png")
    with open(root / "items.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return root


def good_rows(n: int = 3) -> list[list[str]]:
    return [[f"c{i}", f"images/img{i}.png", f"finding {i} on a chest film", "lung", "train", "CC BY", "CR"]
            for i in range(n)]


def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nreader = "csv"\n[source]\ntable = "items.csv"\n'
                    '[fields]\nid = "id"\nimage = "image"\ntext = "text"\nsplit = "split"\n'
                    '[[labels]]\nfield = "labels"\n')
    return path


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


# -- 1. a root spelled with '..' ---------------------------------------------------------------------------------

def test_root_with_dotdot_reads_every_row(tmp_path, monkeypatch):
    make_csv_archive(tmp_path / "shared" / "data" / "mine", good_rows())
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    archive = open_archive(manifest_file(tmp_path), "../shared/data/mine")
    items = list(archive.items())
    assert [i.key for i in items] == ["c0", "c1", "c2"] and archive.skipped == []
    assert archive.root == (tmp_path / "shared" / "data" / "mine").resolve()
    assert items[0].extra["image_relpath"] == "images/img0.png"


def test_index_command_with_dotdot_root_indexes_everything(tmp_path, monkeypatch):
    make_csv_archive(tmp_path / "shared" / "data" / "mine", good_rows())
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    result = cli("index", "--manifest", str(manifest_file(tmp_path)), "--root", "../shared/data/mine",
                 "--index", "./idx", "--model", "fake", "--workers", "0")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "main" / "idx" / "manifest.json").read_text())
    assert manifest["modalities"]["image"]["count"] == 3


def test_root_with_dotdot_through_a_symlinked_folder(tmp_path, monkeypatch):
    """The root's own symlinks are resolved too, so images under it are not taken for escapes."""
    make_csv_archive(tmp_path / "real" / "mine", good_rows())
    (tmp_path / "work" / "main").mkdir(parents=True)
    os.symlink(tmp_path / "real", tmp_path / "work" / "data")
    monkeypatch.chdir(tmp_path / "work" / "main")
    archive = open_archive(manifest_file(tmp_path), "../data/mine")
    assert len(list(archive.items())) == 3 and archive.skipped == []


def test_bench_retrieval_with_no_pairs_is_one_line_not_a_traceback(tmp_path):
    from medsearch.eval.retrieval import run_retrieval
    from medsearch.errors import BadArchive

    root = make_csv_archive(tmp_path / "mine", [["t1", "", "text only", "", "test", "CC BY", ""]])
    archive = open_archive(manifest_file(tmp_path), root)
    with pytest.raises(BadArchive, match="no image\\+text pairs"):
        run_retrieval(archive, FakeEncoder(), n_boot=10, show_progress=False)


def test_iu_xray_with_dotdot_root_says_not_found_not_outside(tmp_path, monkeypatch):
    root = tmp_path / "data" / "iu"
    root.mkdir(parents=True)
    (root / "indiana_reports.csv").write_text("uid,MeSH,Problems,image,indication,comparison,findings,impression\n"
                                               "1,normal,normal,Xray Chest,cough,none,Clear lungs.,No acute disease.\n"
                                               "2,normal,normal,Xray Chest,cough,none,,\n")
    (root / "indiana_projections.csv").write_text("uid,filename,projection\n1,1_IM-0001-4001.dcm.png,Frontal\n"
                                                   "2,2_IM-0002-4001.dcm.png,Frontal\n")
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    archive = open_archive("iu-xray", "../data/iu")
    items = list(archive.items())
    assert len(items) == 1 and items[0].image_path is None and items[0].text  # text kept, no image
    assert [s.reason for s in archive.skipped] == [
        "empty text and image file not found: images/images_normalized/2_IM-0002-4001.dcm.png"]


# -- 2. runs that index nothing -----------------------------------------------------------------------------------

def index_args(tmp_path, root) -> list[str]:
    return ["index", "--manifest", str(manifest_file(tmp_path)), "--root", str(root),
            "--index", str(tmp_path / "idx"), "--model", "fake", "--workers", "0"]


def test_run_where_every_row_is_skipped_exits_non_zero_with_the_reason(tmp_path, capsys):
    root = make_csv_archive(tmp_path / "mine", [["c0", "images/nope.png", "x", "", "", "", ""],
                                                ["c1", "images/gone.png", "y", "", "", "", ""]], images=0)
    code, out, err = run_main(capsys, *index_args(tmp_path, root))
    output = out + err
    assert code == NothingIndexed.exit_code
    error_lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "all 2 rows were skipped" in error_lines[0] and "image file not found" in error_lines[0]


def test_run_over_an_empty_table_exits_non_zero(tmp_path, capsys):
    root = make_csv_archive(tmp_path / "mine", [], images=0)
    code, out, err = run_main(capsys, *index_args(tmp_path, root))
    output = out + err
    assert code == NothingIndexed.exit_code
    assert "error: nothing indexed: archive mine yielded no rows" in output


def test_partial_skip_exits_zero_and_says_how_many(tmp_path, capsys):
    root = make_csv_archive(tmp_path / "mine", good_rows(2) + [["c9", "images/nope.png", "x", "", "", "", ""]])
    code, out, err = run_main(capsys, *index_args(tmp_path, root))
    output = out + err
    assert code == 0, output
    assert "skipped 1 row(s), indexed or kept 2" in output
    code, out, err = run_main(capsys, *index_args(tmp_path, root))
    output = out + err
    assert code == 0, output  # nothing new, but the index holds the items: not a failure


# -- 3. symlinks that leave the root ------------------------------------------------------------------------------

def test_symlinks_out_of_the_root_are_refused_before_opening(tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(outside / "secret.jpg")
    root = make_csv_archive(tmp_path / "mine", good_rows(1) + [
        ["passwd", "images/passwd.png", "link to a system file", "", "", "", ""],
        ["jpeg", "images/secret.jpg", "link to a real JPEG elsewhere", "", "", "", ""],
        ["inner", "images/inner.png", "link inside the root", "", "", "", ""],
    ], images=1)
    os.symlink("/etc/passwd", root / "images" / "passwd.png")
    os.symlink(outside / "secret.jpg", root / "images" / "secret.jpg")
    os.symlink(root / "images" / "img0.png", root / "images" / "inner.png")
    opened = []
    real_open = open

    def spy_open(file, *args, **kwargs):
        opened.append(os.path.realpath(file) if isinstance(file, (str, Path)) else file)
        return real_open(file, *args, **kwargs)

    archive = open_archive(manifest_file(tmp_path), root)
    monkeypatch.setattr("builtins.open", spy_open)
    summary = build_index(archive, tmp_path / "idx", FakeEncoder(), IndexOptions(workers=0, progress=False))
    monkeypatch.undo()
    reasons = {s.where: s.reason for s in summary.skipped}
    assert reasons == {
        "items.csv:3": "image path outside the archive root: images/passwd.png (a link to a file elsewhere)",
        "items.csv:4": "image path outside the archive root: images/secret.jpg (a link to a file elsewhere)",
    }
    assert "/etc/passwd" not in opened and str(outside / "secret.jpg") not in opened
    assert summary.indexed == 2  # the good row and the link that stays inside the root


def test_dicom_folder_link_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "dcm"
    root.mkdir()
    os.symlink("/etc/passwd", root / "IM0001")
    archive = open_archive("dicom-folder", root, show_paths=True)
    assert list(archive.items()) == []
    assert [s.reason for s in archive.skipped] == ["image path outside the archive root: IM0001 (a link to a file "
                                                   "elsewhere)"]
    hidden = open_archive("dicom-folder", root)  # by default the report names the file by its key, not its path
    list(hidden.items())
    assert hidden.skipped[0].where.startswith("dcm-") and "IM0001" not in hidden.skipped[0].reason


def test_thumbnail_of_a_path_that_became_a_link_is_not_served(tmp_path):
    from medsearch.serve.errors import ApiError
    from medsearch.serve.thumbnails import render

    outside = tmp_path / "secret.jpg"
    Image.new("RGB", (16, 16)).save(outside)
    link = tmp_path / "root" / "figure.jpg"
    link.parent.mkdir()
    os.symlink(outside, link)
    with pytest.raises(ApiError) as caught:
        render(1, str(link), 64)
    assert caught.value.status == 404
    assert render(1, str(outside), 64).startswith(b"\x89PNG")


# -- 4. a fresh index directory over a database that already holds the archive ------------------------------------

def test_fresh_index_dir_over_a_database_holding_the_archive_is_refused(tmp_path, store_url):
    root = make_csv_archive(tmp_path / "mine", good_rows())
    archive = open_archive(manifest_file(tmp_path), root)
    first = build_index(archive, tmp_path / "idx1", FakeEncoder(),
                        IndexOptions(db_url=store_url, workers=0, progress=False))
    assert first.indexed == 3
    with pytest.raises(IndexMismatch, match="none of their vectors"):
        build_index(archive, tmp_path / "idx2", FakeEncoder(),
                    IndexOptions(db_url=store_url, workers=0, progress=False))
    assert not (tmp_path / "idx2" / "image_vectors.npy").exists()
    rebuilt = build_index(archive, tmp_path / "idx2", FakeEncoder(),
                          IndexOptions(db_url=store_url, workers=0, progress=False, rebuild=True))
    assert rebuilt.indexed == 3 and rebuilt.counts["image"] == 3
    again = build_index(archive, tmp_path / "idx2", FakeEncoder(),
                        IndexOptions(db_url=store_url, workers=0, progress=False))
    assert (again.indexed, again.unchanged) == (0, 3)


# -- 8. a caption longer than the csv module's default field limit -----------------------------------------------

def test_a_200000_character_caption_keeps_its_row_and_full_text(tmp_path):
    long_caption = "pleural effusion " * 12_000  # 204,000 characters
    root = make_csv_archive(tmp_path / "mine", good_rows(1) + [["long", "images/img1.png", long_caption, "", "",
                                                                "", ""]], images=2)
    archive = open_archive(manifest_file(tmp_path), root)
    items = {i.key: i for i in archive.items()}
    assert archive.skipped == []
    assert items["long"].text == long_caption.strip()
    summary = build_index(archive, tmp_path / "idx", FakeEncoder(), IndexOptions(workers=0, progress=False))
    assert summary.indexed == 2 and summary.skipped == []


def test_a_rebuild_through_a_symlinked_index_rebuilds_where_the_link_points(tmp_path):
    # --index LINK (a symlink to the index on another disk): the rebuild was built beside the link, swapped with
    # the link itself, and then rmtree of the link failed ('Cannot call rmtree on a symbolic link', a traceback):
    # LINK had become a plain folder on the link's disk, LINK.rebuild the old link, and every later rebuild failed.
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "items.csv").write_text("id,image,text\nr0,,No pneumothorax.\nr1,,Small effusion.\n")
    (tmp_path / "disk").mkdir()
    run = lambda index_dir, **options: build_index(open_archive("csv", tmp_path / "archive"), index_dir,
                                                   FakeEncoder(), IndexOptions(workers=0, progress=False, **options))
    run(tmp_path / "disk" / "idx")
    link = tmp_path / "idx"
    link.symlink_to(tmp_path / "disk" / "idx", target_is_directory=True)
    for _ in range(2):
        summary = run(link, rebuild=True)
        assert summary.index_dir == str(link) and summary.indexed == 2
        assert link.is_symlink() and link.resolve() == (tmp_path / "disk" / "idx").resolve()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "disk", "idx"]
        assert sorted(p.name for p in (tmp_path / "disk").iterdir()) == ["idx"]
        assert (link / "manifest.json").is_file()
