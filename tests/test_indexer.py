"""indexer pipeline on tiny data made here (fake encoder): skips with reasons, reruns, changes, mismatch, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from medsearch.archives import open_archive
from medsearch.errors import IndexMismatch
from medsearch.index_dir import read_manifest, verify_checksums
from medsearch.models.fake import FakeEncoder

from indexer.embed import TorchEmbedder
from indexer.pipeline import IndexOptions, build_index

GOOD = 6  # rows with a readable image; the archive also has one text-only row


def make_archive(root):
    """items.csv + PNGs: 6 good image rows, 1 text-only row, 1 corrupt PNG, 1 missing image, 1 broken row."""
    root.mkdir(exist_ok=True)
    rows = ["id,image,text,labels,split,licence,modality"]
    for i in range(GOOD):
        pixels = (np.arange(64 * 64).reshape(64, 64) * (i + 1) % 256).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").save(root / f"img{i}.png")
        rows.append(f"c{i},img{i}.png,finding number {i} on chest film,lung;n{i},train,CC BY,CR")
    rows.append("report1,,text only report with effusion,,test,CC BY,")
    (root / "bad.png").write_bytes(Image.new("RGB", (8, 8)).tobytes()[:40])  # not an image at all
    rows.append("corrupt,bad.png,caption of a corrupt image,,train,CC BY,CR")
    rows.append("gone,missing.png,caption of a missing image,,train,CC BY,CR")
    rows.append('broken,img0.png,"unterminated,extra,fields,here,and,more,than,header')
    (root / "items.csv").write_text("\n".join(rows) + "\n")
    return root


def index(tmp_path, encoder=None, **options):
    archive = open_archive("csv", tmp_path / "archive")
    options.setdefault("workers", 0)
    return build_index(archive, tmp_path / "idx", encoder or FakeEncoder(), IndexOptions(progress=False, **options))


def store_records(tmp_path):
    from medsearch.index_dir import IndexDir
    from medsearch.store import Store

    store = Store.open(IndexDir(tmp_path / "idx").default_db_url)
    try:
        text = store.records("text", list(range(100)))
        return {r.key: r for r in text.values()}
    finally:
        store.close()


@pytest.fixture
def archive_dir(tmp_path):
    return make_archive(tmp_path / "archive")


def test_first_run_indexes_good_items_and_records_skips(tmp_path, archive_dir):
    summary = index(tmp_path)
    reasons = {s.where: s for s in summary.skipped}

    assert summary.seen == GOOD + 2  # + text-only + corrupt (readers do not decode); missing, broken: skipped
    assert summary.indexed == GOOD + 1 and summary.unchanged == 0
    assert summary.counts == {"image": GOOD, "text": GOOD + 1}
    assert summary.factories == {"image": "Flat", "text": "Flat"}
    assert reasons["corrupt"].stage == "decode" and "bad.png" in reasons["corrupt"].reason
    assert any(s.stage == "read" and "missing.png" in (s.where + s.reason) for s in summary.skipped)
    assert any(s.stage == "read" and "unparsable row" in s.reason for s in summary.skipped)
    assert set(summary.stage_seconds) >= {"read", "decode_wait", "embed", "write", "index"}
    assert summary.items_per_s > 0
    lines = (tmp_path / "idx" / "skipped.jsonl").read_text().splitlines()
    assert [json.loads(line)["where"] for line in lines] == [s.where for s in summary.skipped]


def test_index_directory_is_consistent(tmp_path, archive_dir):
    index(tmp_path)
    idx = tmp_path / "idx"
    manifest = read_manifest(idx)
    verify_checksums(idx, manifest)
    image_vectors = np.load(idx / "image_vectors.npy")
    records = store_records(tmp_path)

    assert manifest.model_id == "fake-32" and manifest.dim == 32
    assert manifest.modalities["image"].count == len(image_vectors) == GOOD
    assert records["report1"].image_vector_id is None and records["report1"].image_path is None
    expected = FakeEncoder().encode_images([Image.open(archive_dir / "img3.png").convert("RGB")])[0]
    np.testing.assert_allclose(image_vectors[records["c3"].image_vector_id], expected, atol=1e-6)
    text_vectors = np.load(idx / "text_vectors.npy")
    expected_text = FakeEncoder().encode_texts(["finding number 3 on chest film"])[0]
    np.testing.assert_allclose(text_vectors[records["c3"].text_vector_id], expected_text, atol=1e-6)
    assert records["c3"].labels == ["lung", "n3"]


def test_rerun_embeds_nothing_new(tmp_path, archive_dir):
    index(tmp_path)
    again = index(tmp_path)
    assert (again.indexed, again.unchanged) == (0, GOOD + 1)
    assert len(np.load(tmp_path / "idx" / "text_vectors.npy")) == GOOD + 1


def test_changed_caption_reembeds_only_that_item(tmp_path, archive_dir):
    index(tmp_path)
    before = store_records(tmp_path)
    csv = archive_dir / "items.csv"
    csv.write_text(csv.read_text().replace("finding number 2 on chest film", "pneumothorax now on chest film"))
    again = index(tmp_path)
    after = store_records(tmp_path)

    assert (again.indexed, again.unchanged) == (1, GOOD)
    assert after["c2"].text_vector_id == GOOD + 1  # appended after the first run's GOOD + 1 text rows
    assert after["c2"].item_id == before["c2"].item_id
    assert {k: r.text_vector_id for k, r in after.items() if k != "c2"} == \
        {k: r.text_vector_id for k, r in before.items() if k != "c2"}
    assert again.counts == {"image": GOOD, "text": GOOD + 1}  # live vectors; the old ones stay, dead, until compact
    assert {m: e.count for m, e in read_manifest(tmp_path / "idx").modalities.items()} == \
        {"image": GOOD + 1, "text": GOOD + 2}


def test_other_model_is_refused_unless_rebuild(tmp_path, archive_dir):
    index(tmp_path)
    with pytest.raises(IndexMismatch, match="built with model 'fake-32'"):
        index(tmp_path, encoder=FakeEncoder(dim=16))
    rebuilt = index(tmp_path, encoder=FakeEncoder(dim=16), rebuild=True)
    assert rebuilt.indexed == GOOD + 1 and read_manifest(tmp_path / "idx").dim == 16


class DiesAfter:
    """An embedder that stops the run (like a kill) after ``batches`` batches."""

    def __init__(self, inner, batches: int):
        self.inner, self.batches = inner, batches

    def embed(self, pending):
        for number, batch in enumerate(self.inner.embed(pending), start=1):
            if number > self.batches:
                raise KeyboardInterrupt
            yield batch


def test_killed_run_resumes_where_it_stopped(tmp_path, archive_dir):
    encoder = FakeEncoder()
    dying = DiesAfter(TorchEmbedder(encoder, batch_size=2, workers=0), batches=2)
    with pytest.raises(KeyboardInterrupt):
        index(tmp_path, encoder=encoder, batch_size=2, commit_every=1, embedder=dying)
    committed = len(store_records(tmp_path))
    resumed = index(tmp_path, batch_size=2)

    assert committed == 4  # two batches of two (the corrupt row is not in them)
    assert (resumed.indexed, resumed.unchanged) == (GOOD + 1 - committed, committed)
    assert resumed.counts["text"] == GOOD + 1


def test_worker_processes_give_the_same_vectors(tmp_path, archive_dir):
    index(tmp_path, workers=0)
    in_process = np.load(tmp_path / "idx" / "image_vectors.npy")
    summary = index(tmp_path, workers=2, rebuild=True)
    assert [s.stage for s in summary.skipped if s.where == "corrupt"] == ["decode"]
    np.testing.assert_array_equal(np.load(tmp_path / "idx" / "image_vectors.npy"), in_process)


def test_factory_override_rebuilds_the_index(tmp_path, archive_dir):
    index(tmp_path)
    summary = index(tmp_path, factory="IVF2,Flat")
    manifest = read_manifest(tmp_path / "idx")
    assert summary.factories == {"image": "IVF2,Flat", "text": "IVF2,Flat"}
    assert manifest.modalities["text"].nprobe in (1, 2) and manifest.modalities["text"].count == GOOD + 1


def test_ivf_index_grows_by_adding_not_rebuilding(tmp_path, archive_dir, monkeypatch):
    from indexer import ann

    index(tmp_path, factory="IVF2,Flat")
    monkeypatch.setattr(ann, "build", lambda *a, **k: pytest.fail("rebuilt instead of adding"))
    checksum = read_manifest(tmp_path / "idx").modalities["text"].checksum
    csv = archive_dir / "items.csv"
    csv.write_text(csv.read_text().replace("gone,", "late,,a late report about atelectasis,,test,CC BY,\ngone,"))
    again = index(tmp_path, factory="IVF2,Flat")
    text = read_manifest(tmp_path / "idx").modalities["text"]

    assert again.indexed == 1 and text.count == GOOD + 2 and text.checksum != checksum
    assert text.factory == "IVF2,Flat"
    verify_checksums(tmp_path / "idx", read_manifest(tmp_path / "idx"))


def test_limit_reads_only_the_first_items(tmp_path, archive_dir):
    summary = index(tmp_path, limit=3)
    assert (summary.seen, summary.indexed) == (3, 3)


def test_cli_prints_summary_and_caps_skips(tmp_path, archive_dir):
    from typer.testing import CliRunner

    from medsearch.cli import app

    result = CliRunner().invoke(app, ["index", "--manifest", "csv", "--root", str(archive_dir),
                                      "--index", str(tmp_path / "idx"), "--model", "fake", "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "indexed (new or changed)" in result.output and "corrupt" in result.output
    assert "skipped.jsonl" in result.output


@pytest.mark.slow
def test_demo_archive_end_to_end(tmp_path):
    import medsearch

    summary = build_index(open_archive("demo"), tmp_path / "demo", FakeEncoder(),
                          IndexOptions(workers=1, progress=False))
    assert summary.indexed == summary.seen - len(summary.skipped) > 100
    with medsearch.open_index(tmp_path / "demo", model="fake") as idx:
        hits = idx.search_text("chest", k=5)
    assert len(hits) == 5


def test_second_run_on_a_locked_directory_is_refused(tmp_path, archive_dir):
    from medsearch.errors import IndexBusy

    from indexer.lock import index_lock

    with index_lock(tmp_path / "idx"):
        with pytest.raises(IndexBusy, match="another indexing run"):
            index(tmp_path)
    assert index(tmp_path).indexed == GOOD + 1  # released on exit


def test_rebuild_with_an_external_database(tmp_path, archive_dir):
    from medsearch.errors import StoreError

    db = f"sqlite:///{tmp_path / 'external.sqlite'}"
    index(tmp_path, db_url=db)
    rebuilt = index(tmp_path, db_url=db, rebuild=True)
    assert (rebuilt.indexed, rebuilt.unchanged, rebuilt.counts["text"]) == (GOOD + 1, 0, GOOD + 1)
    other = open_archive("demo")
    build_index(other, tmp_path / "idx", FakeEncoder(), IndexOptions(db_url=db, limit=2, workers=0, progress=False))
    with pytest.raises(StoreError, match="rows of other archives"):
        index(tmp_path, db_url=db, rebuild=True)
    assert index(tmp_path, db_url=db).unchanged == GOOD + 1  # nothing was deleted
