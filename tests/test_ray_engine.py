"""`--engine ray` on a local Ray (2 CPUs) gives the local engine's index: same items, ids, skips, vectors."""

from __future__ import annotations

import numpy as np
import pytest
from test_indexer import make_archive

from medsearch.archives import open_archive
from medsearch.models import load_encoder

from indexer.pipeline import IndexOptions, build_index

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def contents(index_dir):
    from medsearch.index_dir import IndexDir
    from medsearch.store import Store

    with Store.open(IndexDir(index_dir).default_db_url) as store:
        records = store.list_items()
    image = np.load(index_dir / "image_vectors.npy")
    text = np.load(index_dir / "text_vectors.npy")
    return {r.key: (r.image_vector_id, r.text_vector_id,
                    None if r.image_vector_id is None else image[r.image_vector_id],
                    None if r.text_vector_id is None else text[r.text_vector_id]) for r in records}


@pytest.mark.slow
def test_ray_engine_matches_the_local_engine(tmp_path, local_ray):
    from indexer.engines import make_embedder

    archive_dir = make_archive(tmp_path / "archive")
    for i in range(40):  # more items than one batch, so order across batches and actors matters
        (archive_dir / "items.csv").write_text((archive_dir / "items.csv").read_text().replace(
            "gone,", f"extra{i},img{i % 6}.png,extra caption {i} about edema,train,CC BY,CR\ngone,"))
    encoder = load_encoder("fake", device="cpu")  # the actors load it again by its registry name
    local = build_index(open_archive("csv", archive_dir), tmp_path / "local", encoder,
                        IndexOptions(workers=0, batch_size=8, progress=False))
    # one actor on 2 CPUs: decode runs in its own Ray tasks, embedding in the actor (two actors fuse the stages)
    embedder = make_embedder("ray", encoder, batch_size=8, actors=1)
    on_ray = build_index(open_archive("csv", archive_dir), tmp_path / "ray", encoder,
                         IndexOptions(batch_size=8, progress=False, embedder=embedder))

    assert (on_ray.indexed, on_ray.counts, on_ray.factories) == (local.indexed, local.counts, local.factories)
    assert sorted((s.where, s.stage, s.reason) for s in on_ray.skipped) == \
        sorted((s.where, s.stage, s.reason) for s in local.skipped)
    expected, got = contents(tmp_path / "local"), contents(tmp_path / "ray")
    assert expected.keys() == got.keys() and len(got) == local.indexed
    for key, (image_id, text_id, image, text) in expected.items():
        assert got[key][:2] == (image_id, text_id), key  # same vector ids: vectors came back in order
        for mine, theirs in ((got[key][2], image), (got[key][3], text)):
            assert (mine is None) == (theirs is None)
            if mine is not None:
                np.testing.assert_allclose(mine, theirs, atol=1e-5)
