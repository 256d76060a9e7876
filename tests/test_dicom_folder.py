"""The dicom-folder archive reader: DICOM found by content, reports joined by a configurable key, no PHI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_factory import write_dicom
from medsearch.archives.archive import Archive
from medsearch.archives.dicom_folder import DicomFolderReader
from medsearch.archives.manifest import parse_manifest
from medsearch.errors import BadArchive
from medsearch.privacy import patient_key

MANIFEST = """
name = "test-dicom-folder"
reader = "dicom-folder"
[source]
images = "dicom"
reports = "reports.csv"
report_key = "AccessionNumber"
report_key_column = "accession"
[fields]
text = "report"
split = "split"
[[labels]]
field = "labels"
separator = ";"
"""


def _write_dicom(path: Path, accession: str, patient_id: str, modality: str) -> None:
    write_dicom(path, StudyInstanceUID="1.2.826.0.1.99", Modality=modality, BodyPartExamined="CHEST",
                AccessionNumber=accession, PatientID=patient_id, PatientName="Doe^John")


def _archive(root: Path, manifest_text: str = MANIFEST, show_paths: bool = False) -> Archive:
    manifest = parse_manifest(manifest_text)
    reader = DicomFolderReader(manifest, root)
    reader.show_paths = show_paths  # skips name files by path only when asked (paths may name the patient)
    reader.check()
    return Archive(manifest, root, reader)


@pytest.fixture
def folder(tmp_path) -> Path:
    _write_dicom(tmp_path / "dicom" / "a" / "IM0001", "ACC1", "MRN-1", "CR")
    _write_dicom(tmp_path / "dicom" / "b" / "img.dcm", "ACC2", "MRN-2", "CT")
    (tmp_path / "dicom" / "notes.txt").write_text("not an image")
    (tmp_path / "reports.csv").write_text(
        "accession,report,split,labels\n"
        "ACC1,Clear lungs.,train,normal\n"
        "ACC2,Small nodule right upper lobe.,test,nodule;follow-up\n"
        ",orphan row,train,\n"
    )
    return tmp_path


def test_items_join_reports_by_the_configured_key(folder):
    archive = _archive(folder)
    items = {item.image_path.relative_to(folder).as_posix(): item for item in archive.items()}
    assert sorted(items) == ["dicom/a/IM0001", "dicom/b/img.dcm"]
    first, second = items["dicom/a/IM0001"], items["dicom/b/img.dcm"]
    assert first.key.startswith("dcm-") and "IM0001" not in first.key  # a pseudonym, never the path
    assert first.text == "Clear lungs." and first.split == "train" and first.labels == ["normal"]
    assert second.labels == ["nodule", "follow-up"] and second.modality == "CT"
    assert first.image_path == (folder / "dicom" / "a" / "IM0001").absolute()
    assert first.patient == patient_key("MRN-1")
    assert first.extra["BodyPartExamined"] == "CHEST" and "image_relpath" not in first.extra


def test_root_given_as_the_report_table(folder):
    manifest = parse_manifest(MANIFEST.replace('reports = "reports.csv"\n', ""))
    reader = DicomFolderReader(manifest, folder / "reports.csv")
    reader.check()
    archive = Archive(manifest, reader.root, reader)
    assert archive.size_hint() == 3  # files under dicom/, before the non-DICOM one is skipped
    texts = sorted(item.text for item in archive.items())
    assert texts == ["Clear lungs.", "Small nodule right upper lobe."]


def test_non_dicom_files_and_bad_report_rows_are_recorded(folder):
    archive = _archive(folder, show_paths=True)
    list(archive.items())
    reasons = {s.where: s.reason for s in archive.skipped}
    assert reasons["reports.csv:4"] == "empty accession"
    assert reasons["dicom/notes.txt"].startswith("not a DICOM file")
    assert len(reasons) == 2


def test_no_phi_in_items(folder):
    for item in _archive(folder).items():
        text = json.dumps([item.key, item.text, item.patient, item.extra])
        for phi in ("ACC1", "ACC2", "MRN-1", "MRN-2", "Doe", "1.2.826.0.1.99"):
            assert phi not in text


def test_without_reports_items_are_image_only(folder):
    (folder / "reports.csv").unlink()  # a manifest naming no table joins ROOT/reports.csv when there
    archive = _archive(folder, 'name = "x"\nreader = "dicom-folder"\n[source]\nimages = "dicom"\n')
    items = list(archive.items())
    assert len(items) == 2 and all(item.text is None for item in items)


def test_report_table_missing_its_key_column_is_a_bad_archive(folder):
    with pytest.raises(BadArchive, match="reports.csv lacks column"):
        _archive(folder, MANIFEST.replace('report_key_column = "accession"', 'report_key_column = "acc_no"'))


def test_real_sample_folder(shared_data):
    archive = _archive(shared_data / "dicom-samples", 'name = "s"\nreader = "dicom-folder"\n', show_paths=True)
    items = list(archive.items())
    assert len(items) == 23
    assert {item.modality for item in items} == {"XR", "MG", "CT", "MR", "US", "NM", "PT", "XA", "OT"}  # CR, DX -> XR
    assert sorted(s.where for s in archive.skipped) == ["README.md", "manifest.csv", "pydicom_test_files_README.txt"]
