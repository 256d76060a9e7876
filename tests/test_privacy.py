"""Patient privacy: PHI never leaves dicom_metadata unless asked for; patient keys are stable salted hashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medsearch.imaging import dicom_metadata
from medsearch.privacy import PHI_KEYWORDS, SALT_ENV, patient_key

PHI_VALUES = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-0042",
    "PatientBirthDate": "19510203",
    "InstitutionName": "St Example Hospital",
    "ReferringPhysicianName": "House^Gregory",
    "AccessionNumber": "ACC778899",
}


@pytest.fixture
def phi_dicom(tmp_path) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray
    meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.7"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4.100", "1.2.3.4.100.1"
    ds.StudyDate = "20240102"
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    ds.PatientSex, ds.PatientAge = "F", "073Y"
    ds.StudyDescription = "Chest 2 views"
    for keyword, value in PHI_VALUES.items():
        setattr(ds, keyword, value)
    path = tmp_path / "phi.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_phi_absent_by_default(phi_dicom):
    meta = dicom_metadata(phi_dicom)
    assert not PHI_KEYWORDS & meta.keys()
    text = json.dumps(meta)
    for value in list(PHI_VALUES.values()) + ["Doe", "1.2.3.4.100", "20240102"]:
        assert value not in text, f"{value!r} leaked into {meta}"


def test_safe_tags_and_hashed_keys_present_by_default(phi_dicom):
    meta = dicom_metadata(phi_dicom)
    assert meta["Modality"] == "DX"
    assert meta["BodyPartExamined"] == "CHEST"
    assert meta["ViewPosition"] == "PA"
    assert meta["PatientSex"] == "F" and meta["PatientAge"] == "073Y"
    assert meta["patient_key"] == patient_key("MRN-0042")
    assert meta["study_key"] == patient_key("1.2.3.4.100")
    assert "StudyInstanceUID" not in meta and "StudyDate" not in meta


def test_phi_present_with_include_phi(phi_dicom):
    meta = dicom_metadata(phi_dicom, include_phi=True)
    assert meta["PatientName"] == "Doe^Jane"
    assert meta["PatientID"] == "MRN-0042"
    assert meta["PatientBirthDate"] == "19510203"
    assert meta["AccessionNumber"] == "ACC778899"
    assert meta["StudyInstanceUID"] == "1.2.3.4.100"
    assert meta["patient_key"] == patient_key("MRN-0042")


def test_ages_over_89_are_banded_unless_phi_requested(phi_dicom):
    import pydicom

    ds = pydicom.dcmread(phi_dicom)
    ds.PatientAge = "093Y"
    assert dicom_metadata(ds)["PatientAge"] == "90Y+"
    assert dicom_metadata(ds, include_phi=True)["PatientAge"] == "093Y"


def test_patient_key_is_stable_and_salted(monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    key = patient_key("MRN-0042")
    assert key == patient_key("MRN-0042")
    assert len(key) == 16 and "MRN" not in key
    assert key != patient_key("MRN-0043")
    assert patient_key("MRN-0042", salt="site-a") != patient_key("MRN-0042", salt="site-b")
    monkeypatch.setenv(SALT_ENV, "deployment-salt")
    assert patient_key("MRN-0042") == patient_key("MRN-0042", salt="deployment-salt") != key


def test_patient_key_of_missing_id_is_none():
    assert patient_key(None) is None
    assert patient_key("  ") is None


def test_real_sample_patient_id_is_hashed(shared_data):
    meta = dicom_metadata(shared_data / "dicom-samples" / "DX_chest_NIH_NoFinding.dcm")
    assert meta["patient_key"] == patient_key("Covid0000")
    assert "Covid0000" not in json.dumps(meta)
