"""Patient privacy: a salted hash for grouping, and the DICOM tags that are never stored or shown."""

from __future__ import annotations

import hashlib
import os

# DICOM keywords that identify a patient (or could). Never stored in an index or shown unless the user
# passes an explicit --include-phi flag. Based on the DICOM PS3.15 basic confidentiality profile.
PHI_KEYWORDS = frozenset(
    {
        "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientAddress",
        "PatientTelephoneNumbers", "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence",
        "PatientMotherBirthName", "MilitaryRank", "EthnicGroup", "Occupation", "AdditionalPatientHistory",
        "PatientComments", "MedicalRecordLocator", "ReferringPhysicianName", "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers", "PerformingPhysicianName", "OperatorsName",
        "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "RequestingPhysician", "InstitutionName",
        "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "AccessionNumber",
        "StudyID", "IssuerOfPatientID", "PatientBirthName", "CountryOfResidence", "RegionOfResidence",
        "ResponsiblePerson", "ResponsibleOrganization", "DeviceSerialNumber", "PatientInsurancePlanCodeSequence",
    }
)

SALT_ENV = "MEDSEARCH_PATIENT_SALT"
_DEFAULT_SALT = "medsearch-default-salt"  # set MEDSEARCH_PATIENT_SALT per deployment for real archives


def patient_key(raw_id: str | None, salt: str | None = None) -> str | None:
    """Salted SHA-256 of a patient identifier, truncated: stable for grouping, not reversible by lookup."""
    if raw_id is None or str(raw_id).strip() == "":
        return None
    salt = salt if salt is not None else os.environ.get(SALT_ENV, _DEFAULT_SALT)
    return hashlib.sha256(f"{salt}\x00{raw_id}".encode()).hexdigest()[:16]
