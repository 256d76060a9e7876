"""A coarse imaging modality guessed from a caption or report, for archives that have no modality field.

First matching rule wins, so the more specific phrases come first ("PET/CT" is PET, "MR angiography" is MRI).
"""

from __future__ import annotations

import re

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


def guess_modality(text: str | None) -> str | None:
    if not text:
        return None
    for name, pattern in MODALITY_RULES:
        if pattern.search(text):
            return name
    return None
