"""`medsearch bench search`: judged queries from labels, the metrics, and the command on a tiny report index."""

from __future__ import annotations

import json

import pytest

from medsearch.eval import search_bench as sb
from medsearch.store.records import ItemRecord


def record(item_id, labels, text=""):
    return ItemRecord(item_id=item_id, archive="a", key=str(item_id), image_path=None, text=text, labels=labels,
                      patient=None, split=None, licence=None, modality=None, extra={}, image_vector_id=None,
                      text_vector_id=item_id)


def test_mesh_queries_invert_headings_use_sides_anatomy_and_narrower_headings(monkeypatch):
    monkeypatch.setattr(sb, "MIN_RELEVANT", 1)
    records = [record(1, ["Hernia, Hiatal"]), record(2, ["Pleural Effusion/left"]),
               record(3, ["Pleural Effusion/bilateral"]), record(4, ["Fractures, Bone/ribs/left"]),
               record(5, ["Calcified Granuloma/lung"]), record(6, ["Granuloma"]), record(7, ["Lung/hypoinflation"])]
    queries = {q.text: q.relevant for q in sb.mesh_queries(records)}
    assert queries["hiatal hernia"] == {1}
    assert queries["left pleural effusion"] == {2, 3}  # bilateral counts for either side
    assert queries["rib fracture"] == {4}
    assert queries["granuloma"] == {5, 6}  # the narrower heading counts
    assert "lung" not in queries  # a structure, not a finding


def test_kinds_negated_relevance_and_metrics():
    plain = [sb.JudgedQuery("cardiomegaly", "plain", "Cardiomegaly", "tune", {1, 2})]
    queries = sb.expand_kinds(plain, universe={1, 2, 3, 4})
    kinds = {q.kind: q for q in queries}
    assert {"plain", "lay", "negated"} <= set(kinds)
    assert kinds["lay"].text in ("enlarged heart", "big heart") and kinds["lay"].relevant == {1, 2}
    negated = kinds["negated"]
    assert negated.relevant == {3, 4} and negated.positive == {1, 2} and "cardiomegaly" in negated.text
    m = sb.metrics([3, 1, 4], negated)
    assert m["p@10"] == pytest.approx(0.2) and m["r@100"] == 1.0 and m["asserting@10"] == 1.0
    perfect = sb.metrics([1, 2], plain[0])
    assert perfect["ndcg@10"] == pytest.approx(1.0) and perfect["p@10"] == pytest.approx(0.2)
    summary = sb.summarise([{"mode": "hybrid", "negation": True, "kind": "plain", "half": "tune", "p@10": 1.0,
                             "ndcg@10": 1.0, "r@100": 1.0}])
    assert summary["hybrid+neg"]["all"]["all"]["p@10"] == 1.0


def test_bench_search_command(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from medsearch.cli import app
    from medsearch.store import Store
    from test_hybrid_search import build

    index_dir = build(tmp_path / "index")
    with Store.open(f"sqlite:///{index_dir / 'meta.sqlite'}") as store:  # label the reports as IU X-ray does
        archive = store.archive_id("reports", "/reports")
        records = store.records("text", list(range(12)))
        from medsearch.archives.item import Item
        from medsearch.store import NewItem

        labels = {0: ["Pneumothorax/right/large"], 2: ["Pneumothorax/apex/left/small"], 6: ["Pleural Effusion/left"]}
        store.add_items(archive, [NewItem(Item(key=r.key, text=r.text, labels=labels.get(v, ["normal"])),
                                          content_hash=r.key, text_vector_id=v) for v, r in records.items()])
    monkeypatch.setattr(sb, "MIN_RELEVANT", 1)
    result = CliRunner().invoke(app, ["bench", "search", "--index", str(index_dir), "--queries", "mesh",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "search_mesh_text.json").read_text())
    assert {"dense", "dense+neg", "lexical", "lexical+neg", "hybrid", "hybrid+neg"} <= set(data["summary"])
    rows = {(r["query"], r["mode"], r["negation"]): r for r in data["queries"]}
    assert rows[("pneumothorax", "hybrid", True)]["p@10"] == pytest.approx(0.2)  # both reports, first
    assert rows[("pneumothorax", "hybrid", True)]["ndcg@10"] == pytest.approx(1.0)
    negated = next(r for (q, m, n), r in rows.items() if m == "hybrid" and n and "pneumothorax" in q and q != "pneumothorax"
                   and r["kind"] == "negated")
    assert negated["asserting@10"] == 0.0
