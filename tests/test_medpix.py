"""The built-in `medpix` manifest and reader on a tiny archive in MedPix 2.0's layout made by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medsearch.archives import open_archive
from medsearch.errors import BadArchive

from medpix_factory import CASES, make_medpix


@pytest.fixture
def medpix(tmp_path: Path) -> Path:
    return make_medpix(tmp_path / "medpix")


def test_items_carry_caption_case_metadata_and_split(medpix: Path):
    archive = open_archive("medpix", root=medpix)
    items = {item.key: item for item in archive.items()}
    assert archive.skipped == []
    first = items["MPX0001_synpic0"]
    assert first.text.startswith("CT image 1 of pulmonary embolism")
    assert first.case == "MPX0001" and first.extra["case"] == "MPX0001"
    assert first.image_path == medpix / "images" / "MPX0001_synpic0.png"
    assert first.modality == "CT" and items["MPX0003_synpic20"].modality == "MR"  # canonical code (medsearch.archives.modality)
    assert first.extra["plane"] == "Axial" and first.extra["sequence"] == "w/contrast (IV)"
    assert first.extra["location"] == "Chest, Pulmonary" and first.extra["sex"] == "male"
    assert first.extra["age"] == "90+"  # ages over 89 are banded
    assert items["MPX0001_synpic1"].extra["age"] == "45"
    assert first.labels == ["acr:6", "dx:Pulmonary Embolism"]  # "6.-1": the unknown part dropped
    assert first.split == "train" and items["MPX0006_synpic50"].split == "val"  # dev -> val
    assert first.licence.startswith("MedPix 2.0")
    assert {item.case for item in items.values()} == {uid for uid, *_ in CASES}


def test_cases_keep_history_findings_differential_and_diagnosis(medpix: Path):
    archive = open_archive("medpix", root=medpix)
    cases = {case.key: case for case in archive.cases()}
    assert len(cases) == len(CASES)
    case = cases["MPX0006"]
    assert case.title == "Meningioma" and case.diagnosis == "Meningioma" and case.split == "val"
    assert case.sections["findings"].startswith("Dural tail sign")
    assert case.sections["history"].startswith("45-year-old")
    assert "exam" not in case.sections  # "N/A" is not text
    assert case.labels == ["dx:Meningioma", "acr:1.3"]
    assert case.extra["images"] == ["MPX0006_synpic50", "MPX0006_synpic51", "MPX0006_synpic52"]
    text = case.text()
    assert text.index("History:") < text.index("Findings:") < text.index("Diagnosis:")


def test_split_field_in_the_record_wins_and_no_split_files_is_fine(tmp_path: Path):
    root = make_medpix(tmp_path / "m", split_files=False)
    records = json.loads((root / "Descriptions.json").read_text())
    records[0]["split"] = "test"
    (root / "Descriptions.json").write_text(json.dumps(records))
    items = list(open_archive("medpix", root=root).items())
    assert items[0].split == "test" and {i.split for i in items[1:]} == {None}


def test_bad_records_are_skipped_and_a_missing_image_is_reported(medpix: Path):
    records = json.loads((medpix / "Descriptions.json").read_text())
    (medpix / "images" / f"{records[1]['image']}.png").unlink()
    records.append(["not", "a", "record"])
    (medpix / "Descriptions.json").write_text(json.dumps(records))
    archive = open_archive("medpix", root=medpix)
    keys = [item.key for item in archive.items()]
    assert records[1]["image"] not in keys and len(keys) == len(records) - 2
    reasons = sorted(s.reason for s in archive.skipped)
    assert reasons[0].startswith("image file not found") and reasons[1].startswith("unparsable record")


def test_missing_descriptions_or_bad_json_raise_bad_archive(medpix: Path, tmp_path: Path):
    with pytest.raises(BadArchive, match="Descriptions.json not found"):
        open_archive("medpix", root=tmp_path)
    (medpix / "Descriptions.json").write_text("{not json")
    with pytest.raises(BadArchive, match="not valid JSON"):
        open_archive("medpix", root=medpix)


def test_cases_are_optional(medpix: Path):
    (medpix / "Case_topic.json").unlink()
    archive = open_archive("medpix", root=medpix)
    items = list(archive.items())
    assert items and list(archive.cases()) == [] and items[0].case == "MPX0001"
    assert items[0].labels == ["acr:6"]  # no diagnosis label without the case record


def test_real_medpix_counts(shared_data: Path):
    archive = open_archive("medpix", root=shared_data / "medpix")
    items = list(archive.items())
    cases = list(archive.cases())
    assert len(items) == 1850 and archive.skipped == []
    assert sum(i.split == "train" for i in items) == 1653 and sum(i.split == "val" for i in items) == 197
    assert len(cases) == 602 and sum(c.split == "val" for c in cases) == 67
    assert {i.modality for i in items} == {"CT", "MR"}
    assert all(i.case and i.text for i in items)


def test_other_layouts_name_their_case():
    items = list(open_archive("demo").items())
    assert all(item.case == item.extra["pmc_id"] for item in items)
    assert len({item.case for item in items}) < len(items)  # some articles have several figures


def test_dicom_series_of_one_study_form_one_case(tmp_path: Path):
    import numpy as np

    from dicom_factory import write_dicom

    pixels = np.zeros((8, 8), dtype=np.uint8)
    for name, study in (("a.dcm", "1.2.3.4"), ("b.dcm", "1.2.3.4"), ("c.dcm", "1.2.3.5")):
        write_dicom(tmp_path / name, pixels, StudyInstanceUID=study, SeriesInstanceUID=study + ".1")
    items = sorted(open_archive("dicom-folder", root=tmp_path).items(), key=lambda i: i.extra.get("image_relpath", ""))
    cases = [item.case for item in items]
    assert cases[0] and cases[0] == cases[1] != cases[2]
    assert "1.2.3.4" not in cases  # the study UID is hashed, never stored raw


def test_a_root_with_only_the_split_files_and_jpeg_images(tmp_path: Path):
    root = make_medpix(tmp_path / "m")
    (root / "Descriptions.json").unlink()
    (root / "Case_topic.json").unlink()
    from PIL import Image

    png = root / "images" / "MPX0001_synpic0.png"
    Image.open(png).convert("RGB").save(root / "images" / "MPX0001_synpic0.jpg")
    png.unlink()
    archive = open_archive("medpix", root=root)
    items = {item.key: item for item in archive.items()}
    assert archive.skipped == [] and len(items) == 17
    assert items["MPX0001_synpic0"].image_path.name == "MPX0001_synpic0.jpg"
    assert items["MPX0006_synpic50"].split == "val" and items["MPX0001_synpic1"].split == "train"
    cases = {case.key: case for case in archive.cases()}
    assert len(cases) == len(CASES) and cases["MPX0006"].split == "val" and cases["MPX0003"].sections["findings"]
