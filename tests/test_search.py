"""medsearch.search on a tiny hand-built index (fake encoder): ranking, brute-force agreement, filters,
stale vectors, model checks, image queries, info."""

from __future__ import annotations

import json
from collections import Counter
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medsearch.errors import BadQuery, IndexCorrupt, IndexMismatch, IndexNotFound, StoreError
from medsearch.models.fake import FakeEncoder
from medsearch.query import ranking
from medsearch.search import Filters, SearchResult, open_index

from conftest import build_tiny_index

STALE = {7, 50}


pytestmark = pytest.mark.usefixtures("one_faiss_thread")


@pytest.fixture
def index(tiny_index):
    idx = open_index(tiny_index[0])
    yield idx
    idx.close()


def brute_force(index_dir: Path, target: str, query: np.ndarray, k: int, keep=lambda i: True) -> list[str]:
    """Keys of the exact top k over live (non-stale) vectors that pass ``keep``."""
    vectors = np.load(index_dir / f"{target}_vectors.npy")
    ids = np.array([i for i in range(len(vectors)) if i not in STALE and keep(i)], dtype=np.int64)
    scores = vectors[ids] @ query
    order = np.lexsort((ids, -scores))[:k]
    return [f"k{i:03d}" for i in ids[order]]


def test_results_are_ranked_by_score(index):
    outcome = index.search("pleural effusion", k=15)
    hits = list(outcome.hits)
    assert [h.rank for h in hits] == list(range(1, 16))
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(h, SearchResult) and h.target == "image" for h in hits)
    assert {"encode", "ann", "rescore", "metadata", "total"} <= set(outcome.timings)
    outcome = index.search("Collapsed lung!", k=1)
    assert outcome.searched_for == "pneumothorax"


@pytest.mark.parametrize("target", ["image", "text"])
def test_search_text_equals_brute_force(index, tiny_index, target):
    query = index.embed_text("cardiomegaly on the scan", target=target)
    hits = index.search_text("cardiomegaly on the scan", k=10, target=target, mode="dense")
    assert [h.key for h in hits] == brute_force(tiny_index[0], target, query, 10)


def test_text_to_text_finds_the_caption(index):
    top = index.search_text("case17", k=3, target="text", ensemble=False)[0]
    assert top.key == "k017"
    assert top.text.startswith("nodule seen on the scan case17")
    assert top.labels == ["nodule"]
    assert top.extra == {"image_relpath": "images/img017.png"}
    assert top.image_path.endswith("img017.png")


def test_stale_vectors_are_excluded(index, tiny_index):
    query = index.embed_text("case7", target="text", ensemble=False)
    vectors = np.load(tiny_index[0] / "text_vectors.npy")
    assert int(np.argmax(vectors @ query)) == 7  # the stale vector would win without the store join
    keys = [h.key for h in index.search_text("case7", k=120, target="text", ensemble=False)]
    assert "k007" not in keys and "k050" not in keys
    assert len(keys) == 120 - len(STALE)


def test_items_deleted_before_the_manifest_is_rewritten_are_never_returned(tmp_path):
    """Which vectors are live is read once per manifest snapshot; a writer deletes from the store first and
    rewrites the manifest after. In between, a text search still returns live items only, k of them."""
    index_dir = tmp_path / "idx"
    build_tiny_index(index_dir)
    with open_index(index_dir) as idx:
        for mode in ("hybrid", "dense"):
            idx.search_text("nodule", k=10, target="text", mode=mode)  # the snapshot's liveness is read
        gone = {h.item_id for h in idx.search_text("nodule", k=10, target="text", mode="dense")[:8]}
        idx.store.remove_item_ids(gone)  # the manifest still names the same snapshot
        for mode in ("hybrid", "dense"):
            hits = idx.search_text("nodule", k=10, target="text", mode=mode)
            assert len(hits) == 10 and not gone & {h.item_id for h in hits}, mode


FILTER_CASES = {
    "modality": (Filters(modality="ct"), lambda it: it["modality"] == "CT"),
    "label": (Filters(labels=["followup"]), lambda it: "followup" in it["labels"]),
    "two labels": (Filters(labels=["followup", "cardiomegaly"]), lambda it: {"followup", "cardiomegaly"} <= set(it["labels"])),
    "licence prefix": (Filters(licence="CC BY*"), lambda it: it["licence"].startswith("CC BY")),
    "licence exact": (Filters(licence="CC BY"), lambda it: it["licence"] == "CC BY"),
    "combined": (Filters(modality="MR", split="test"), lambda it: it["modality"] == "MR" and it["split"] == "test"),
}


@pytest.mark.parametrize(
    "plan", ["auto", "pre-filter-exact-scan", "pre-filter-ann-with-selector"]
)
@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filters_keep_recall(index, tiny_index, monkeypatch, case, plan):
    if plan != "auto":
        monkeypatch.setattr(ranking, "EXACT_FILTER_LIMIT", 5000 if plan.endswith("exact-scan") else 0)
    filters, keep = FILTER_CASES[case]
    index_dir, items = tiny_index
    query = index.embed_text("nodule", target="image")
    want = brute_force(index_dir, "image", query, 10, keep=lambda i: keep(items[i]))
    outcome = index.search("nodule", k=10, filters=filters, mode="dense", negation=False,
                           plan="auto" if plan == "auto" else "pre-filter")
    hits = list(outcome.hits)
    assert [h.key for h in hits] == want
    assert len(want) >= 1
    assert outcome.plan == ("pre-filter" if plan != "auto" else outcome.plan)


def test_broad_filters_post_filter_and_narrow_ones_pre_filter(index):
    outcome = index.search("nodule", k=5, filters=Filters(licence="CC BY*"), mode="dense", negation=False)
    assert outcome.plan == "post-filter" and "filter" not in outcome.timings
    # no item carries both labels: the 100 candidates (of 118) cannot yield 10, so the store is asked
    outcome = index.search("nodule", k=10, filters=Filters(labels=["followup", "nodule"]), mode="dense", negation=False)
    hits = list(outcome.hits)
    assert outcome.plan == "pre-filter" and "filter" in outcome.timings and hits == []
    # with k=20 the pool (200 > 118) covers the whole index, so the post-filter answer is already complete
    outcome = index.search("nodule", k=20, filters=Filters(labels=["followup", "cardiomegaly"]), mode="dense",
                           negation=False)
    hits = list(outcome.hits)
    assert outcome.plan == "post-filter" and len(hits) == 10


def test_post_filter_agrees_with_the_store(index, tiny_index):

    records = index.store.records("image", list(range(120)))
    for filters, _ in FILTER_CASES.values():
        allowed = set(index.store.allowed_vector_ids("image", filters).tolist())
        assert {i for i, r in records.items() if filters.matches(r)} == allowed


def test_filters_as_dict_and_empty_filters(index):
    as_dict = index.search_text("fracture", k=5, filters={"modality": "CR"})
    assert [h.modality for h in as_dict] == ["XR"] * 5  # stored "CR" (an old spelling) shows as the canonical XR
    unfiltered = index.search_text("fracture", k=5)
    assert [h.key for h in index.search_text("fracture", k=5, filters=Filters())] == [h.key for h in unfiltered]


def test_filter_matching_nothing(index):
    assert index.search_text("fracture", k=5, filters=Filters(modality="PET")) == []


def test_image_to_image_finds_the_same_image(index, tiny_index):
    path = tiny_index[1][3]["image_path"]
    for query in (path, Path(path).read_bytes(), Image.open(path)):
        top = index.search_image(query, k=3, target="image")[0]
        assert top.key == "k003" and top.score == pytest.approx(1.0, abs=1e-5)


def test_image_to_text_searches_text_vectors(index, tiny_index):
    path = tiny_index[1][3]["image_path"]
    query = index.embed_image(path)
    hits = index.search_image(path, k=5)
    assert [h.target for h in hits] == ["text"] * 5
    assert [h.key for h in hits] == brute_force(tiny_index[0], "text", query, 5)


def test_search_similar_uses_the_stored_vector_and_leaves_the_item_out(index, tiny_index):
    item_id = index.search_text("case17", k=1, target="text", ensemble=False)[0].item_id
    vectors = np.load(tiny_index[0] / "image_vectors.npy")
    np.testing.assert_array_equal(index.stored_vector("image", 17), vectors[17])
    hits = index.search_similar(item_id, k=5, target="image")
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert [h.key for h in hits] == [k for k in brute_force(tiny_index[0], "image", vectors[17], 6) if k != "k017"]
    with pytest.raises(BadQuery):
        index.stored_vector("image", 10_000)


def test_ivf_pq_index_with_rescoring_matches_brute_force(tmp_path):
    index_dir = tmp_path / "ivf"
    build_tiny_index(index_dir, n=200, stale=set(), factories={"image": "IVF4,Flat", "text": "IVF4,PQ8x4np"})
    with open_index(index_dir) as idx:
        assert json.loads((index_dir / "manifest.json").read_text())["modalities"]["text"]["nprobe"] == 4
        query = idx.embed_text("pleural effusion", target="text")
        vectors = np.load(index_dir / "text_vectors.npy")
        scores = vectors @ query
        want = [f"k{i:03d}" for i in np.lexsort((np.arange(len(scores)), -scores))[:10]]
        hits = idx.search_text("pleural effusion", k=10, target="text", mode="dense", negation=False)
        assert [h.key for h in hits] == want
        np.testing.assert_allclose([h.score for h in hits], np.sort(scores)[::-1][:10], rtol=1e-5)


def test_named_model_of_another_dimension_is_refused(tiny_index):
    with pytest.raises(IndexMismatch) as err:
        open_index(tiny_index[0], model="medsearch-default")
    assert "256" in str(err.value) and "fake-32" in str(err.value)
    assert err.value.exit_code == 6


def test_encoder_with_another_model_id_is_refused(tiny_index):
    class OtherFake(FakeEncoder):
        def __init__(self):
            super().__init__(dim=32)
            self.model_id = "other-32"

    with pytest.raises(IndexMismatch, match="'fake-32', not 'other-32'"):
        open_index(tiny_index[0], model=OtherFake())


def test_index_model_checked_when_loaded_lazily(tmp_path):
    build_tiny_index(tmp_path / "idx", n=10, model_id="fake-32-retrained")
    idx = open_index(tmp_path / "idx")
    with pytest.raises(IndexMismatch, match="built with 'fake' as model id 'fake-32-retrained'") as error:
        idx.search_text("nodule")
    # the hint names the real cause (the manifest or the model changed), not "--model fake", the model just used
    assert "--model fake" not in error.value.hint and "rebuild" in error.value.hint
    idx.close()


def test_corrupt_or_missing_index(tmp_path):
    with pytest.raises(IndexNotFound):
        open_index(tmp_path / "nothing")
    build_tiny_index(tmp_path / "idx", n=10)
    with open(tmp_path / "idx" / "image.faiss", "ab") as f:
        f.write(b"x")
    with pytest.raises(IndexCorrupt, match="image.faiss"):
        open_index(tmp_path / "idx")
    build_tiny_index(tmp_path / "idx2", n=10)
    (tmp_path / "idx2" / "meta.sqlite").unlink()
    with pytest.raises(IndexCorrupt, match="meta.sqlite is missing"):
        open_index(tmp_path / "idx2")
    assert not (tmp_path / "idx2" / "meta.sqlite").exists()


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"target": "video"}])
def test_bad_query_arguments(index, kwargs):
    with pytest.raises(BadQuery):
        index.search_text("nodule", **kwargs)


def test_item_and_info(index, tiny_index):
    hit = index.search_text("case17", k=1, target="text", ensemble=False)[0]
    record = index.item(hit.item_id)
    assert record.key == "k017" and record.text_vector_id == 17
    with pytest.raises(StoreError):
        index.item(10_000)
    info = index.info()
    assert info["counts"]["items"] == 118
    assert info["manifest"]["model_id"] == "fake-32"
    live = [it for i, it in enumerate(tiny_index[1]) if i not in STALE]
    canonical = {"CR": "XR"}  # the tiny index stores old spellings; facets merge them under canonical codes
    assert info["facets"]["modalities"] == dict(Counter(canonical.get(it["modality"], it["modality"]) for it in live))
    assert {"manifest.json", "image.faiss", "text_vectors.npy", "meta.sqlite"} <= set(info["disk"]["files"])
    assert info["disk"]["total_bytes"] == sum(info["disk"]["files"].values())


def test_text_search_does_not_import_torch(tiny_index):
    code = (
        "import sys; from medsearch.search import open_index; "
        f"idx = open_index({str(tiny_index[0])!r}); hits = idx.search_text('PE', k=3); "
        "print(len(hits), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["3", "False"]


DEFAULT_MODEL_TEXT_QUERY = """
import sys, faiss, numpy as np
from pathlib import Path
from medsearch.index_dir import IndexDir, IndexManifest, ModalityEntry, sha256_file, write_manifest
from medsearch.models import load_encoder
from medsearch.search import open_index
from medsearch.archives.item import Item
from medsearch.store import NewItem, Store

out = Path(sys.argv[1])
texts = ["Pulmonary embolism in the right lower lobe artery.", "Left pneumothorax with a chest tube.",
         "Cardiomegaly and small bilateral pleural effusions.", "Fracture of the distal radius."]
encoder = load_encoder("medsearch-default", device="cpu")
vectors = encoder.encode_texts(texts)
np.save(out / "text_vectors.npy", vectors)
ann = faiss.IndexFlatIP(vectors.shape[1]); ann.add(vectors); faiss.write_index(ann, str(out / "text.faiss"))
store = Store.open(IndexDir(out).default_db_url)
store.add_items(store.archive_id("t", str(out), "t"),
                [NewItem(Item(key=f"r{i}", text=t), content_hash=str(i), text_vector_id=i) for i, t in enumerate(texts)])
store.close()
write_manifest(out, IndexManifest(model_id=encoder.model_id, model_name="medsearch-default", dim=encoder.dim,
    modalities={"text": ModalityEntry("Flat", 4, "text.faiss", "text_vectors.npy", sha256_file(out / "text.faiss"))}))
hits = open_index(out).search_text("PE", k=2, target="text")
print(hits[0].key, "torch" in sys.modules)
"""


@pytest.mark.slow
def test_default_model_text_query_never_imports_torch(tmp_path):
    """Index and query by text with the embedded default model in a fresh interpreter: onnxruntime only."""
    from medsearch.models.default import WEIGHTS

    if not WEIGHTS.exists():
        pytest.skip("default model weights not built yet")
    # the first use of new weights exports the ONNX text graph (with torch) into the cache; do that beforehand
    warm = "from medsearch.models import load_encoder; load_encoder('medsearch-default').encode_texts(['x'])"
    subprocess.run([sys.executable, "-c", warm], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", DEFAULT_MODEL_TEXT_QUERY, str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["r0", "False"]


@pytest.mark.parametrize("url, shared", [("sqlite://", True), ("sqlite:///:memory:", True), ("sqlite+pysqlite://", True),
                                         ("sqlite:////tmp/meta.sqlite", False), ("sqlite:///meta.sqlite", False),
                                         ("postgresql+psycopg://user@host/db", False)])
def test_in_memory_stores_keep_the_full_text_work_in_the_callers_thread(url, shared):
    from medsearch.search.hybrid import in_memory

    assert in_memory(url) is shared
