"""Patient privacy: a keyed hash for grouping, pseudonymous keys, and the DICOM tags never stored or shown.

The key is a per-deployment secret: ``MEDSEARCH_PATIENT_SALT`` when set, else a random secret generated once and
kept outside any index (``secret_file()``, mode 0600), with a one-time warning. There is no public default."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
import threading
from pathlib import Path

from medsearch.errors import SecretUnavailable

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

SALT_ENV = "MEDSEARCH_PATIENT_SALT"  # the per-deployment secret (share it between machines that must agree)
SECRET_FILE_ENV = "MEDSEARCH_PATIENT_SALT_FILE"  # where the generated secret lives when SALT_ENV is unset
KEY_HEX_CHARS = 16


def secret_file() -> Path:
    """Where a generated secret is kept: $MEDSEARCH_PATIENT_SALT_FILE, else the user's config folder
    ($XDG_CONFIG_HOME or ~/.config)/medsearch/patient-salt. Never inside an index, which may be shared."""
    if os.environ.get(SECRET_FILE_ENV):
        return Path(os.environ[SECRET_FILE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "medsearch" / "patient-salt"


_lock = threading.Lock()
_generated: dict[Path, str] = {}


def _stored_secret(path: Path) -> str:
    """The secret in ``path``, created once (32 random bytes, hex, mode 0600) with a warning on stderr."""
    with _lock:
        if path in _generated:
            return _generated[path]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                secret = path.read_text(encoding="ascii").strip()
            else:
                secret = secrets.token_hex(32)
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(secret + "\n")
                print(f"medsearch: no {SALT_ENV} set; generated a patient-hash secret in {path} (mode 0600). "
                      f"Keep it: patient groupings in indexes depend on it. Set {SALT_ENV} to share one "
                      "secret between machines.", file=sys.stderr)
        except OSError as exc:
            raise SecretUnavailable(f"cannot read or create the patient-hash secret {path}: {exc.strerror or exc}",
                                    hint=f"set {SALT_ENV} (a long random string) or {SECRET_FILE_ENV}") from exc
        if not secret:
            raise SecretUnavailable(f"the patient-hash secret file {path} is empty",
                                    hint=f"delete it to generate a new one, or set {SALT_ENV}")
        _generated[path] = secret
        return secret


def deployment_secret() -> str:
    """$MEDSEARCH_PATIENT_SALT, else the secret generated once for this user (``secret_file``)."""
    return os.environ.get(SALT_ENV) or _stored_secret(secret_file())


def patient_key(raw_id: str | None, salt: str | None = None) -> str | None:
    """Keyed hash (HMAC-SHA256) of a patient identifier under the deployment's secret, truncated: stable for
    grouping within one deployment, not reversible by hashing guesses without the secret."""
    if raw_id is None or str(raw_id).strip() == "":
        return None
    key = salt if salt is not None else deployment_secret()
    return hmac.new(key.encode("utf-8"), str(raw_id).encode("utf-8"), hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]


def pseudonym(kind: str, value: str) -> str:
    """A stable, non-reversible item key for a value that may identify someone (a DICOM UID, a file path that may
    hold a patient's name): "<kind>-" + 20 hex characters of the keyed hash."""
    digest = hmac.new(deployment_secret().encode("utf-8"), f"{kind}\x00{value}".encode("utf-8"), hashlib.sha256)
    return f"{kind}-{digest.hexdigest()[:20]}"
