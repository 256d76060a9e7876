"""The one modality vocabulary: canonical codes (DICOM-style), their display names and aliases, and a coarse
modality guessed from a caption or report for archives that have no modality field.

Every modality is stored as its canonical code (``canonical_modality`` at index time) and every ``--modality``
filter (CLI, API, page) goes through the same function, so "MRI", "mr" and "magnetic resonance" all mean ``MR``
and CR, DX, XR, "X-ray" and "radiograph" all mean ``XR``. Indexes written before this vocabulary existed still
match: ``modality_spellings`` gives every stored spelling a canonical code stands for.

    canonical_modality("MRI") == "MR";  canonical_modality("CR") == "XR";  canonical_modality(None) is None
    modality_label("XR") == "X-ray";    guess_modality("Axial CT of the chest") == "CT"

A code that is not in the vocabulary (a rarer DICOM code such as ES or OP) is kept, upper-cased; free text that
is not a known alias is kept as given. ``UNKNOWN`` is the facet and filter value for items with no modality.
"""

from __future__ import annotations

import re

UNKNOWN = "unknown"

# canonical code -> (display name, aliases). Aliases are matched case-insensitively, ignoring spaces/-/_//.
MODALITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "CT": ("CT", ("computed tomography", "ct scan", "cat scan", "cta", "hrct", "mdct", "ct angiography")),
    "MR": ("MR", ("mri", "mr", "magnetic resonance", "magnetic resonance imaging", "mra", "mr angiography",
                  "fmri")),
    "US": ("ultrasound", ("ultrasound", "ultrasonography", "sonography", "sonogram", "us", "usg", "echo",
                          "echocardiography", "doppler")),
    "XR": ("X-ray", ("x-ray", "xray", "x ray", "radiograph", "radiography", "plain film", "plain radiograph",
                     "cr", "dx", "xr", "px", "io", "computed radiography", "digital radiography")),
    "XA": ("angiography", ("angiography", "angiogram", "xa", "dsa", "digital subtraction angiography")),
    "RF": ("fluoroscopy", ("fluoroscopy", "rf", "fl", "barium study")),
    "NM": ("nuclear medicine", ("nuclear medicine", "nm", "scintigraphy", "spect", "bone scan")),
    "PT": ("PET", ("pet", "pt", "pet/ct", "pet-ct", "petct", "positron emission tomography")),
    "MG": ("mammography", ("mammography", "mammogram", "mg")),
    "OT": ("other", ("ot", "other")),
    UNKNOWN: ("unknown", ("unknown", "none", "n/a", "na")),
}


def _norm(text: str) -> str:
    return re.sub(r"[\s\-_/]+", "", text).lower()


_BY_ALIAS: dict[str, str] = {}
for _code, (_name, _aliases) in MODALITIES.items():
    for _alias in (_code, _name, *_aliases):
        _BY_ALIAS.setdefault(_norm(_alias), _code)
_DICOM_CODE = re.compile(r"^[A-Za-z]{2}$")


def canonical_modality(value: str | None) -> str | None:
    """The canonical code for any spelling (None and blanks stay None: "no modality" is not a value)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    code = _BY_ALIAS.get(_norm(text))
    if code is not None:
        return code
    return text.upper() if _DICOM_CODE.match(text) else text


def modality_label(code: str | None) -> str:
    """A display name for a stored modality ("XR" -> "X-ray"); the value itself when not in the vocabulary."""
    if code is None:
        return MODALITIES[UNKNOWN][0]
    canonical = canonical_modality(code)
    return MODALITIES[canonical][0] if canonical in MODALITIES else str(code)


def modality_spellings(code: str) -> set[str]:
    """Every lower-cased stored spelling that means ``code``'s canonical modality (for filtering old indexes,
    which stored "MRI", "ultrasound", "X-RAY"...): the code, its display name and its aliases."""
    canonical = canonical_modality(code)
    if canonical not in MODALITIES:
        return {str(canonical).lower()}
    name, aliases = MODALITIES[canonical]
    spellings = {canonical.lower(), name.lower(), *(a.lower() for a in aliases)}
    return spellings | {s.replace("-", " ") for s in spellings} | {s.replace(" ", "-") for s in spellings}


def same_modality(stored: str | None, wanted: str) -> bool:
    """True when a stored modality (any spelling, None for none) is the wanted one (any spelling)."""
    wanted_code = canonical_modality(wanted)
    return (canonical_modality(stored) or UNKNOWN) == wanted_code


# Caption rules: first match wins, so the more specific phrases come first ("PET/CT" is PET, "MR angiography" is
# MR). Rule names are the historical words (build_demo stratifies on them; keep them stable), mapped to codes.
MODALITY_RULES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("PET", r"\bPET\b|positron emission"),
        ("nuclear medicine", r"scintigra|\bSPECT\b|bone scan|radionuclide|\bMIBG\b|\bTc-?99"),
        ("MRI", r"\bMRI?\b|\bMRA\b|magnetic resonance|T[12][- ]weighted|\bFLAIR\b|\bDWI\b|diffusion[- ]weighted"),
        ("CT", r"\bCT\b|\bCTA\b|\bHRCT\b|\bMDCT\b|computed tomogra|\bCECT\b|\bNCCT\b"),
        ("ultrasound", r"ultraso|sonogra|\bUS\b|\bUSG\b|doppler|echocardiogra|\bechogra|\bTTE\b|\bTEE\b|\bTOE\b|\bEUS\b"),
        ("angiography", r"angiogra|\bDSA\b|venogra|arteriogra|catheteri[sz]ation"),
        ("fluoroscopy", r"fluorosco|barium|urogra|cholangiogra|hysterosalpingogra|swallow|\bERCP\b"),
        ("mammography", r"mammogra"),
        ("X-ray", r"x-?ray|radiograph|\bCXR\b|plain film|\bfilm\b|roentgen|\bKUB\b|panoramic|orthopantomogra"),
    )
)


def guess_modality_word(text: str | None) -> str | None:
    """The name of the first caption rule that matches ("MRI", "ultrasound", ...), or None."""
    if not text:
        return None
    for name, pattern in MODALITY_RULES:
        if pattern.search(text):
            return name
    return None


def guess_modality(text: str | None) -> str | None:
    """The canonical code of the modality a caption or report names, or None."""
    return canonical_modality(guess_modality_word(text))
