"""The encoder carries its identity; IndexDir names an index directory's files; one model-source table."""

from __future__ import annotations

import pytest

import medsearch
from medsearch.errors import IndexMismatch
from medsearch.index_dir import IndexDir, IndexManifest
from medsearch.models import load_encoder, resolve
from medsearch.models.base import ModelIdentity
from medsearch.models.fake import FakeEncoder
from medsearch.models.openclip_files import SOURCES, source_of

from indexer.writer import open_index_dir


def test_loading_stamps_the_identity():
    encoder = load_encoder("fake", device="cpu")
    assert encoder.identity == ModelIdentity(name="fake", device="cpu") and encoder.model_id == "fake-32"
    # built directly (tests), an encoder is named by its model id
    assert FakeEncoder(dim=16).identity == ModelIdentity(name="fake-16", device="cpu")


def test_the_model_id_has_one_owner(tmp_path):
    """The manifest's model id is the encoder's own, whatever name the registry stamped."""
    encoder = FakeEncoder(dim=16)
    encoder.identity = ModelIdentity(name="fake", device="cpu")
    manifest = open_index_dir(tmp_path / "idx", encoder, None)
    assert (manifest.model_id, manifest.model_name) == ("fake-16", "fake")
    with pytest.raises(IndexMismatch, match="built with 'fake' as model id 'fake-16'"):
        manifest.check_encoder(load_encoder("fake", device="cpu"))


def test_check_encoder_serves_writer_and_search():
    manifest = IndexManifest(model_id="fake-32", model_name="fake", dim=32)
    manifest.check_encoder(load_encoder("fake", device="cpu"))
    with pytest.raises(IndexMismatch, match="built with model 'fake-32', not 'fake-16'"):
        manifest.check_encoder(FakeEncoder(dim=16))
    changed = load_encoder("fake", device="cpu", dim=16)  # the index's own name now gives another model id
    with pytest.raises(IndexMismatch, match="built with 'fake' as model id 'fake-32'"):
        manifest.check_encoder(changed)


def test_index_dir_names_every_file(tmp_path):
    files = IndexDir(tmp_path)
    assert (files.manifest.name, files.next_manifest.name, files.store_file.name, files.skipped.name,
            files.lock.name) == ("manifest.json", "manifest.next.json", "meta.sqlite", "skipped.jsonl", ".lock")
    assert files.faiss("image").name == "image.faiss" and files.faiss("text", 3).name == "text.v3.faiss"
    assert files.vectors("image", 2).name == "image_vectors.g2.npy"
    assert files.default_db_url == f"sqlite:///{(tmp_path / 'meta.sqlite').resolve()}"
    assert files.db_url("postgresql://x/y") == "postgresql://x/y"
    assert files.db_url(manifest=IndexManifest(model_id="m", model_name="m", dim=2)) == files.default_db_url


def test_model_sources_are_one_table():
    assert [s.prefix for s in SOURCES] == ["hf-hub:", "local-dir:", "open_clip:"]
    assert source_of("local-dir:/x").prefix == "local-dir:" and source_of("biomedclip") is None
    assert resolve("open_clip:ViT-B-32@/x.pt").options == {"name": "open_clip:ViT-B-32@/x.pt"}


def test_build_index_is_public():
    from indexer.pipeline import IndexOptions, build_index

    assert medsearch.build_index is build_index and medsearch.IndexOptions is IndexOptions


def test_a_manifest_of_another_medsearch_version(tmp_path, capsys):
    """Older manifests lack fields (defaults), a newer medsearch's optional fields are left out on reading (they
    said 'not a valid index manifest ... rebuild the index'), a newer format is refused with the fix (upgrade), and
    JSON that is no manifest object is IndexCorrupt (a list was a traceback)."""
    import json

    from conftest import run_main

    from medsearch.errors import IndexCorrupt
    from medsearch.index_dir import FORMAT_VERSION, ModalityEntry, read_manifest, write_manifest

    entry = ModalityEntry(factory="Flat", count=1, index_file="text.faiss", vectors_file="text_vectors.npy",
                          checksum="0")
    write_manifest(tmp_path, IndexManifest(model_id="fake-32", model_name="fake", dim=32, modalities={"text": entry}))
    data = json.loads(IndexDir(tmp_path).manifest.read_text())
    path = IndexDir(tmp_path).manifest

    older = {k: v for k, v in data.items() if k not in ("analysis", "items", "version")}
    path.write_text(json.dumps(older))
    assert (read_manifest(tmp_path).analysis, read_manifest(tmp_path).items) == (None, None)

    newer = {**data, "shards": [1, 2], "modalities": {"text": {**data["modalities"]["text"], "quantiser": "x"}}}
    path.write_text(json.dumps(newer))
    assert read_manifest(tmp_path).modalities["text"] == entry

    path.write_text(json.dumps({**data, "format": FORMAT_VERSION + 1}))
    with pytest.raises(IndexMismatch, match=f"newer medsearch .*format {FORMAT_VERSION + 1}") as raised:
        read_manifest(tmp_path)
    assert "upgrade medsearch" in raised.value.hint
    code, out, err = run_main(capsys, "info", "--index", str(tmp_path))
    assert code == IndexMismatch.exit_code and "upgrade medsearch" in err and "--rebuild" not in err

    for not_a_manifest in ([], None, "x", {**data, "modalities": []}, {**data, "format": "one"}):
        path.write_text(json.dumps(not_a_manifest))
        with pytest.raises(IndexCorrupt, match="not a valid index manifest"):
            read_manifest(tmp_path)
