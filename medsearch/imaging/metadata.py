"""Descriptive DICOM tags that are safe to store and show; PHI only with an explicit include_phi."""

from __future__ import annotations

import re

from medsearch.errors import ImageLoadError
from medsearch.imaging import detect
from medsearch.privacy import PHI_KEYWORDS, patient_key

SAFE_KEYWORDS = (
    "Modality", "BodyPartExamined", "StudyDescription", "SeriesDescription", "ViewPosition", "ImageLaterality",
    "Laterality", "PatientSex", "PatientAge", "Manufacturer", "ManufacturerModelName", "Rows", "Columns",
    "NumberOfFrames", "PhotometricInterpretation", "BitsStored", "SamplesPerPixel", "SliceThickness",
    "PixelSpacing", "SOPClassUID",
)
# Not in the PHI list but identifying (UIDs link records across systems; dates narrow down a patient):
# by default they appear only as salted hashes (UIDs) or not at all (dates).
IDENTIFYING_KEYWORDS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "StudyTime", "SeriesTime", "AcquisitionDateTime",
)
HASHED_UIDS = {"StudyInstanceUID": "study_key", "SeriesInstanceUID": "series_key"}
_AGE = re.compile(r"^(\d{3})([DWMY])$")


def read_header(path_or_dataset):
    """A Dataset without pixel data; a path is parsed with stop_before_pixels (fast)."""
    from pydicom.dataset import Dataset

    from medsearch.imaging.dicom import read_dataset

    if isinstance(path_or_dataset, Dataset):
        return path_or_dataset
    try:
        head = detect.read_head(path_or_dataset)
    except OSError as exc:
        raise ImageLoadError(path_or_dataset, f"cannot read file: {exc.strerror or exc}") from exc
    preamble = detect.has_dicom_preamble(head)
    if not preamble and not detect.may_be_bare_dicom(head):
        raise ImageLoadError(path_or_dataset, "not a DICOM file (no DICM preamble, no DICOM tags at start)")
    ds = read_dataset(path_or_dataset, path_or_dataset, stop_before_pixels=True, force=not preamble)
    if not preamble and "Modality" not in ds and "SOPClassUID" not in ds and "Rows" not in ds:
        raise ImageLoadError(path_or_dataset, "not a DICOM file (forced parsing found no image tags)")
    return ds


def dicom_metadata(path_or_dataset, include_phi: bool = False) -> dict:
    """Safe descriptive tags by DICOM keyword, plus ``patient_key`` (salted hash of PatientID) and hashed
    ``study_key``/``series_key``. PHI_KEYWORDS, raw UIDs and dates are added only when ``include_phi``."""
    from medsearch.imaging.dicom import CORRUPT_HEADER_ERRORS

    ds = read_header(path_or_dataset)
    try:
        return _safe_tags(ds, include_phi)
    except CORRUPT_HEADER_ERRORS as exc:  # values are converted lazily, on first access
        where = getattr(ds, "filename", None) or path_or_dataset
        raise ImageLoadError(where, f"corrupt DICOM header value: {type(exc).__name__}: {exc}") from exc


def _safe_tags(ds, include_phi: bool) -> dict:
    meta: dict = {}
    for keyword in SAFE_KEYWORDS:
        value = _plain(ds.get(keyword))
        if value not in (None, "", []):
            meta[keyword] = value
    if "PatientAge" in meta and not include_phi:
        meta["PatientAge"] = _age_band(meta["PatientAge"])
    meta["patient_key"] = patient_key(_plain(ds.get("PatientID")))
    for keyword, key_name in HASHED_UIDS.items():
        meta[key_name] = patient_key(_plain(ds.get(keyword)))
    if include_phi:
        for keyword in sorted(PHI_KEYWORDS) + list(IDENTIFYING_KEYWORDS):
            value = _plain(ds.get(keyword))
            if value not in (None, "", []):
                meta[keyword] = value
    return meta


def image_modality_hint(path_or_dataset) -> str | None:
    """The DICOM Modality (CT, MR, CR, DX, US...) or None for non-DICOM files and files without the tag."""
    try:
        ds = read_header(path_or_dataset)
    except ImageLoadError:
        return None  # not DICOM (or unreadable): there is no tag to hint from; load_image reports the error
    modality = str(_plain(ds.get("Modality")) or "").strip().upper()
    return modality or None


def _age_band(age: str) -> str:
    """HIPAA safe harbour: ages over 89 are grouped."""
    match = _AGE.match(str(age))
    if match and match.group(2) == "Y" and int(match.group(1)) > 89:
        return "90Y+"
    return age


def _plain(value):
    """pydicom values -> JSON-friendly Python (str, int, float, list); sequences and bytes are dropped."""
    from pydicom.multival import MultiValue
    from pydicom.sequence import Sequence
    from pydicom.valuerep import DSdecimal, DSfloat, IS, PersonName

    if value is None or isinstance(value, (Sequence, bytes, bytearray)):
        return None
    if isinstance(value, MultiValue):
        return [_plain(v) for v in value]
    if isinstance(value, IS):
        return int(value)
    if isinstance(value, (DSfloat, DSdecimal)):
        return float(value)
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, (int, float)):
        return value
    return str(value).strip()
