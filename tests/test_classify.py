"""`medsearch classify` and medsearch.Classifier (zero-shot classification of the user's own images), the shared
zero-shot arithmetic, and `bench zeroshot` on any archive manifest with a label field (issue 9 part 6)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import medsearch
from dicom_factory import write_dicom
from medsearch.classifier import DEFAULT_TEMPERATURE, Classifier, temperature_from
from medsearch.cli import app, main
from medsearch.errors import BadCalibration, BadQuery
from medsearch.eval.zeroshot import review_flags, zero_shot_logits, zero_shot_probabilities
from medsearch.models.fake import FakeEncoder

runner = CliRunner()
LABELS = ["normal chest radiograph", "pneumonia", "pleural effusion"]


def _pixels(seed: int, size=(32, 32)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    png, jpg = tmp_path / "film.png", tmp_path / "photo.jpg"
    Image.fromarray(_pixels(1)).save(png)
    Image.fromarray(_pixels(2)).convert("RGB").save(jpg, quality=95)
    dcm = write_dicom(tmp_path / "study.dcm", _pixels(3).astype(np.uint16) * 16, BitsStored=12, HighBit=11)
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return {"png": png, "jpeg": jpg, "dicom": dcm, "corrupt": corrupt, "missing": tmp_path / "nope.png"}


# --- the shared arithmetic ---------------------------------------------------------------------------------

def test_review_flags_hand_case():
    probs = np.array([[0.9, 0.05, 0.05], [0.45, 0.40, 0.15], [0.6, 0.1, 0.3]])
    top, margin, review = review_flags(probs, min_probability=0.5, min_margin=0.2)
    assert top.tolist() == [0.9, 0.45, 0.6]
    assert np.allclose(margin, [0.85, 0.05, 0.3])
    assert review.tolist() == [False, True, False]
    assert review_flags(probs, 0.7, 0.0)[2].tolist() == [False, True, True]


def test_temperature_softens_and_sharpens():
    logits = zero_shot_logits(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), logit_scale=2.0)
    assert logits.tolist() == [[2.0, 0.0]]
    p1, p4 = zero_shot_probabilities(logits, 1.0)[0, 0], zero_shot_probabilities(logits, 4.0)[0, 0]
    assert p1 == pytest.approx(1 / (1 + np.exp(-2))) and 0.5 < p4 < p1


# --- Python API -------------------------------------------------------------------------------------------

def test_classifier_ranks_labels_and_keeps_going_past_bad_files(images):
    clf = Classifier(LABELS, encoder=FakeEncoder())
    results = clf.classify([images["png"], images["corrupt"], images["jpeg"], images["missing"], images["dicom"]])
    assert [r.source for r in results] == [str(images[k]) for k in ("png", "corrupt", "jpeg", "missing", "dicom")]
    good = [results[i] for i in (0, 2, 4)]
    for r in good:
        assert r.error is None and r.label in LABELS
        assert list(r.probabilities) [0] == r.label and sum(r.probabilities.values()) == pytest.approx(1.0)
        values = list(r.probabilities.values())
        assert r.probability == values[0] and r.margin == pytest.approx(values[0] - values[1])
    assert "file not found" in results[3].error and results[3].label is None and results[3].needs_review
    assert results[1].error and results[1].label is None


def test_classifier_takes_pil_images_and_bytes_and_the_module_function(images):
    pil = Image.open(images["png"])
    data = images["dicom"].read_bytes()
    [a, b] = medsearch.classify([pil, data], labels=LABELS, encoder=FakeEncoder())
    [c] = Classifier(LABELS, encoder=FakeEncoder()).classify([images["png"]])
    assert a.label == c.label and a.probabilities == pytest.approx(c.probabilities)
    assert b.error is None and b.source == f"<{len(data)} bytes>"


def test_needs_review_follows_the_thresholds(images):
    files = [images["png"], images["jpeg"], images["dicom"]]
    strict = Classifier(LABELS, encoder=FakeEncoder(), temperature=100.0, min_probability=0.99,
                        min_margin=0.0).classify(files)
    assert all(r.needs_review and r.review_reasons[0].startswith("top probability") for r in strict)
    relaxed = Classifier(LABELS, encoder=FakeEncoder(), min_probability=0.0, min_margin=0.0).classify(files)
    assert not any(r.needs_review for r in relaxed) and all(r.review_reasons == [] for r in relaxed)
    margin = Classifier(LABELS, encoder=FakeEncoder(), temperature=100.0, min_probability=0.0,
                        min_margin=1.0).classify(files)
    assert all(r.review_reasons == [f"margin {r.margin:.2f} < 1"] for r in margin)


def test_temperature_default_given_and_from_a_calibration_file(tmp_path, images):
    enc = FakeEncoder()
    assert Classifier(LABELS, encoder=enc).temperature == DEFAULT_TEMPERATURE
    hot = Classifier(LABELS, encoder=enc, temperature=50.0).classify([images["png"]])[0]
    cold = Classifier(LABELS, encoder=enc, temperature=0.05).classify([images["png"]])[0]
    assert hot.label == cold.label and hot.probability < cold.probability
    cal = tmp_path / "zeroshot.json"
    cal.write_text(json.dumps({"model_id": enc.model_id, "calibration": {"temperature": 2.5, "temperature_fitted_on": "val"}}))
    clf = Classifier(LABELS, encoder=enc, calibration=cal)
    assert clf.temperature == 2.5 and clf.temperature_source == str(cal)
    with pytest.raises(BadCalibration, match="fitted for model other-model"):
        temperature_from({"model_id": "other-model", "calibration": {"temperature": 2.0, "temperature_fitted_on": "val"}},
                         enc.model_id)
    with pytest.raises(BadCalibration, match="no fitted temperature"):
        temperature_from({"model_id": enc.model_id, "calibration": {"temperature": 1.0, "temperature_fitted_on": None}})


@pytest.mark.parametrize("labels", [["pneumonia"], ["pneumonia", " Pneumonia "], ["pneumonia", " "], []])
def test_labels_must_be_two_different_words(labels):
    with pytest.raises(BadQuery):
        Classifier(labels, encoder=FakeEncoder())


def test_labels_are_expanded_like_queries():
    clf = Classifier(["PTX", "normal chest radiograph"], encoder=FakeEncoder())
    assert clf.prompts["PTX"] == "pneumothorax"
    assert Classifier(["PTX", "normal"], encoder=FakeEncoder(), expand=False).prompts["PTX"] == "ptx"


# --- CLI --------------------------------------------------------------------------------------------------

def _cli(*args):
    return runner.invoke(app, ["classify", *map(str, args), "--model", "fake"])


def test_cli_json_has_settings_and_one_result_per_file(images):
    result = _cli(images["png"], images["jpeg"], images["dicom"], images["corrupt"],
                  "--label", LABELS[0], "--label", LABELS[1], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["labels"] == LABELS[:2] and data["temperature"] == DEFAULT_TEMPERATURE
    assert set(data["thresholds"]) == {"min_probability", "min_margin"}
    assert [r["error"] is None for r in data["results"]] == [True, True, True, False]
    assert "corrupt or truncated" in data["results"][3]["error"] or "not an image" in data["results"][3]["error"]
    assert all(set(r) >= {"source", "label", "probability", "margin", "needs_review", "probabilities"}
               for r in data["results"])


def test_cli_table_names_each_bad_file_and_exits_zero(images):
    result = _cli(images["png"], images["missing"], "-l", "pneumonia", "-l", "normal", "--temperature", "100",
                  "--min-probability", "0.99")
    assert result.exit_code == 0, result.output
    assert "file not found" in result.output and "needs review" in result.output


def test_cli_exits_non_zero_only_when_every_file_fails(images, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(images["corrupt"]), str(images["missing"]), "--label", "a", "--label", "b",
              "--model", "fake"])
    assert exit_info.value.code == 4
    err = capsys.readouterr().err
    lines = err.splitlines()  # one line per bad file, then the summary
    assert len(lines) == 3 and "broken.png: not an image" in lines[0] and "nope.png: file not found" in lines[1]
    assert lines[2].startswith("error: none of the 2 file(s) could be classified")


def test_cli_needs_two_labels(images, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(images["png"]), "--label", "pneumonia", "--model", "fake"])
    assert exit_info.value.code == 2 and "at least two different labels" in capsys.readouterr().err


# --- bench zeroshot on any manifest with a label field ----------------------------------------------------

COVID_COLUMNS = ["patientid", "offset", "sex", "age", "finding", "RT_PCR_positive", "survival", "view", "modality",
                 "date", "location", "folder", "filename", "doi", "url", "license", "clinical_notes", "other_notes"]


def _covid_like(tmp_path: Path) -> Path:
    """The ieee8023/covid-chestxray-dataset layout: metadata.csv + images/ (+ a NIfTI volume the decoder skips)."""
    root = tmp_path / "covid"
    (root / "images").mkdir(parents=True)
    (root / "volumes").mkdir()
    findings = ["Pneumonia/Viral/COVID-19"] * 6 + ["No Finding"] * 6 + ["Pneumonia/Bacterial/Legionella"] * 2
    rows = []
    for i, finding in enumerate(findings):
        name = f"case{i}.png" if i % 2 else f"case{i}.jpg"
        Image.fromarray(_pixels(10 + i)).convert("RGB").save(root / "images" / name)
        rows.append([f"p{i}", "0", "M" if i % 2 else "F", str(30 + i), finding, "Y", "", "PA", "X-ray", "2020",
                     "", "images", name, "", "", "CC BY", f"case {i}", ""])
    (root / "volumes" / "ct.nii.gz").write_bytes(b"\x1f\x8b not really a volume")
    rows.append(["p99", "0", "F", "50", "Pneumonia/Viral/COVID-19", "Y", "", "Axial", "CT", "2020", "",
                 "volumes", "ct.nii.gz", "", "", "CC BY", "ct", ""])
    with open(root / "metadata.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COVID_COLUMNS)
        writer.writerows(rows)
    return root


def test_bench_zeroshot_runs_on_a_covid_layout_archive_by_label_field(tmp_path):
    root = _covid_like(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["bench", "zeroshot", "--manifest", "covid-chestxray", "--label-field", "finding",
                                 "--root", str(root), "--model", "fake", "--bootstrap", "10", "--out", str(out),
                                 "--prompt", "No Finding=normal chest radiograph"])
    assert result.exit_code == 0, result.output
    data = json.loads(next(out.glob("*.json")).read_text())
    # Legionella has 2 images (< 5): left out; the CT volume counts toward COVID-19 but fails to decode
    assert data["classes"] == ["No Finding", "Pneumonia/Viral/COVID-19"]
    assert data["prompts"] == {"No Finding": "normal chest radiograph",
                               "Pneumonia/Viral/COVID-19": "pneumonia viral covid-19"}
    assert data["split"] == "all" and data["n"] == 12 and data["class_counts"] == {
        "No Finding": 6, "Pneumonia/Viral/COVID-19": 6}
    assert data["calibration"]["temperature_fitted_on"] is None
    assert [s["stage"] for s in data["skipped"]] == ["decode"]
    assert data["label_field"] == "finding" and 0.0 <= data["accuracy"] <= 1.0


def test_bench_zeroshot_manifest_needs_a_label_field_with_two_classes(tmp_path, capsys):
    root = _covid_like(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "zeroshot", "--manifest", "covid-chestxray", "--label-field", "view", "--root", str(root),
              "--model", "fake"])
    assert exit_info.value.code == 4 and "gives 1 class(es)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "zeroshot", "--manifest", "covid-chestxray", "--root", str(root), "--model", "fake"])
    assert exit_info.value.code == 2 and "--label-field" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "zeroshot", "--task", "nih-normal", "--prompt", "normal=x", "--model", "fake"])
    assert exit_info.value.code == 2 and "--prompt applies to --manifest" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "zeroshot", "--manifest", "covid-chestxray", "--label-field", "finding", "--root", str(root),
              "--model", "fake", "--prompt", "Flu=influenza"])
    assert exit_info.value.code == 2 and "--prompt names classes not in the task: Flu" in capsys.readouterr().err


# --- the real default model ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_default_model_classifies_real_dicom_and_png(shared_data):
    files = [shared_data / "dicom-samples" / "DX_chest_NIH_NoFinding.dcm",
             shared_data / "dicom-samples" / "CR_chest_SIIM_PA.dcm",
             *sorted((shared_data / "nih-cxr14-64px" / "images").rglob("*.png"))[:2]]
    results = medsearch.classify(files, labels=["chest radiograph", "CT scan of the head", "ultrasound image"],
                                 device="cpu")
    assert all(r.error is None for r in results), [r.error for r in results]
    assert [r.label for r in results] == ["chest radiograph"] * 4
    assert all(0.0 < r.probability <= 1.0 and isinstance(r.needs_review, bool) for r in results)
