"""`medsearch bench` commands and the evaluation modules on tiny data with the fake encoder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from medsearch.cli import app
from medsearch.eval.retrieval import evaluate_pairs, sample_pool
from medsearch.eval.robustness import group_agreement, run_phrasing

runner = CliRunner()


def _image(path: Path, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path.name


def _csv_archive(tmp_path: Path, texts: list[str], corrupt: int | None = None) -> Path:
    root = tmp_path / "arch"
    root.mkdir()
    with open(root / "items.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "image", "text", "split"])
        for i, text in enumerate(texts):
            name = _image(root / f"img{i}.png", i)
            if i == corrupt:
                (root / name).write_bytes(b"\x89PNG\r\n\x1a\nbroken")
            writer.writerow([f"id{i}", name, text, "test"])
    return root


def _bench_json(args: list[str], out: Path) -> dict:
    """`medsearch bench ARGS --model fake --out OUT` exits 0; the JSON report it wrote there."""
    result = runner.invoke(app, ["bench", *args, "--model", "fake", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(next(out.glob("*.json")).read_text())


def test_evaluate_pairs_hand_case_with_repeated_texts():
    # images 0 and 1 share a caption; image 2 matches its text best
    images = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    texts_vec = np.array([[0.0, 1.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    texts = ["same caption", "Same caption", "other caption"]
    result = evaluate_pairs(images, texts_vec, texts, ks=(1, 2), n_boot=50)
    i2t = result.recall["image_to_text"]
    # image0 scores: t0 0, t1 0, t2 .6 -> best relevant (0) beaten by t2 -> rank 2; image1 -> rank 1; image2 -> t2=1.0 rank 1
    assert i2t["R@1"]["value"] == pytest.approx(2 / 3)
    assert i2t["R@2"]["value"] == 1.0
    assert result.pool_size == 3 and result.unique_texts == 2
    assert result.curves["text_to_image"][-1] == 1.0


def test_sample_pool_is_fixed_by_seed():
    a, b = sample_pool(100, 10, seed=3), sample_pool(100, 10, seed=3)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 10
    assert sample_pool(5, 10).tolist() == [0, 1, 2, 3, 4]


def test_bench_retrieval_cli_writes_table_json_and_png(tmp_path):
    root = _csv_archive(tmp_path, ["same caption"] * 5 + ["unique one", "unique two"], corrupt=6)
    out = tmp_path / "out"
    result = runner.invoke(app, ["bench", "retrieval", "--manifest", "csv", "--root", str(root), "--model", "fake",
                                 "--pool", "6", "--seed", "1", "--bootstrap", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pool size" in result.output
    [json_file] = list(out.glob("*.json"))
    data = json.loads(json_file.read_text())
    assert data["pool_requested"] == 6
    assert data["pool_size"] + len([s for s in data["skipped"] if s["stage"] == "decode"]) == 6
    assert data["recall"]["image_to_text"]["R@10"]["value"] == 1.0  # k >= pool size
    assert list(out.glob("*.png"))


def _nih_like(tmp_path: Path) -> Path:
    root = tmp_path / "nih"
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(24):
        split = "test" if i < 16 else "valid"
        label = "No Finding" if i % 2 == 0 else ("Effusion|Mass" if i % 4 == 1 else "Effusion")
        name = _image(root / "images" / f"{i}.png", i)
        rows.append([f"images/{name}", split, label, "PA", i, 30 + 3 * i, "M" if i % 3 else "F"])
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "split", "finding_labels", "view", "patient_id", "age", "sex"])
        writer.writerows(rows)
    return root


def test_bench_zeroshot_cli_binary_task(tmp_path):
    out = tmp_path / "out"
    data = _bench_json(["zeroshot", "--task", "nih-normal", "--root", str(_nih_like(tmp_path)), "--bootstrap", "20"], out)
    assert data["n"] == 16 and data["val_n"] == 8
    assert data["class_counts"] == {"normal": 8, "abnormal": 8}
    assert 0.0 <= data["accuracy"] <= 1.0
    # the two one-vs-rest AUROCs of a two-class softmax are the same number
    assert data["per_class"]["normal"]["auroc"] == pytest.approx(data["per_class"]["abnormal"]["auroc"])
    cal = data["calibration"]
    assert cal["temperature_fitted_on"] == "val" and cal["temperature"] > 0
    assert sum(b["count"] for b in cal["reliability_before"]) == 16
    assert list(out.glob("*.png"))


def test_bench_zeroshot_multilabel_and_unknown_task(tmp_path):
    data = _bench_json(["zeroshot", "--task", "nih-findings", "--root", str(_nih_like(tmp_path)), "--bootstrap", "10"],
                       tmp_path / "out")
    # Effusion: 8 of 16 positive; Mass: 4 positives, under the 5 needed for an AUROC; the rest: none
    assert set(data["per_class"]) == {"Effusion"}
    assert data["per_class"]["Effusion"]["n_pos"] == 8
    assert data["positives_below_minimum"]["classes"]["Mass"] == 4
    from medsearch.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["bench", "zeroshot", "--task", "nope", "--model", "fake"])
    assert exc.value.code == 2


class _StubIndex:
    """search_text returns fixed id lists per (query, ensemble, expand)."""

    def __init__(self, answers):
        self.answers = answers

    def search_text(self, query, k=10, target="image", ensemble=True, expand=True, filters=None):
        class Hit:
            def __init__(self, item_id):
                self.item_id = item_id
        return [Hit(i) for i in self.answers[(query, ensemble, expand)][:k]]


def test_run_phrasing_scores_each_setting():
    groups = [{"id": "pe", "kind": "abbreviation", "queries": ["PE", "pulmonary embolism"]}]
    answers = {}
    for ensemble in (False, True):
        for expand in (False, True):
            same = expand  # with the lexicon both phrasings give the same list
            answers[("pulmonary embolism", ensemble, expand)] = [1, 2, 3, 4]
            answers[("PE", ensemble, expand)] = [1, 2, 3, 4] if same else [1, 2, 7, 8]
    result = run_phrasing(_StubIndex(answers), groups, k=4)
    assert result["settings"]["plain"]["mean_jaccard"] == pytest.approx(2 / 6)
    assert result["settings"]["ensemble+lexicon"]["mean_jaccard"] == 1.0
    assert result["settings"]["lexicon"]["groups_at_or_above_0.9"] == 1
    assert group_agreement([[1, 2], [2, 1]], 2)["rank_agreement"] == pytest.approx(0.5)


def test_bench_phrasing_cli_on_tiny_index(tiny_index, tmp_path):
    index_dir, _ = tiny_index
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"groups": [
        {"id": "ptx", "queries": ["pneumothorax", "PTX"]},
        {"id": "same", "queries": ["pleural effusion", "Pleural Effusion."]},
    ]}))
    data = _bench_json(["phrasing", "--index", str(index_dir), "--groups", str(groups)], tmp_path / "out")
    assert data["groups"] == 2
    # case and punctuation are normalised away, so that group agrees fully in every setting
    assert all(data["per_group"]["same"][s]["jaccard"] == 1.0 for s in data["settings"])
