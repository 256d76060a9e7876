"""MIMIC-CXR (PhysioNet) in its published layout: MIMIC-CXR-JPG tables and images plus the MIMIC-CXR reports.

    ROOT/mimic-cxr-2.0.0-metadata.csv[.gz]   dicom_id, subject_id, study_id, ViewPosition, ...
    ROOT/mimic-cxr-2.0.0-split.csv[.gz]      dicom_id, study_id, subject_id, split (train / validate / test)
    ROOT/mimic-cxr-2.0.0-chexpert.csv[.gz]   subject_id, study_id, one column per finding: 1.0 / 0.0 / -1.0 / blank
    ROOT/files/p10/p10000032/s50414267/<dicom_id>.jpg      the image
    ROOT/files/p10/p10000032/s50414267.txt                 the study's free-text report

One Item per image (dicom_id) with its study's report (FINDINGS and IMPRESSION sections when present, else the
whole report); labels are the CheXpert findings marked positive (1.0) for the study.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from medsearch.archives.item import Item
from medsearch.archives.reader import SkipFn
from medsearch.archives.table import CsvReader, open_text

IMAGE_FILE, REPORT, SPLIT, POSITIVE = "image_file", "report", "split", "chexpert_positive"  # columns added per row
CHEXPERT_KEYS = ("subject_id", "study_id")
POSITIVE_VALUE = 1.0


def study_folder(subject_id: str, study_id: str) -> str:
    return f"p{subject_id[:2]}/p{subject_id}/s{study_id}"


def report_sections(text: str, sections: list[str]) -> str:
    """The named sections of a report ("FINDINGS:", "IMPRESSION:"), joined; the whole text when none is found."""
    heading = re.compile(r"^\s*([A-Z][A-Z /&]+):", re.MULTILINE)
    parts: dict[str, str] = {}
    matches = list(heading.finditer(text))
    for match, following in zip(matches, matches[1:] + [None]):
        end = following.start() if following else len(text)
        parts[match.group(1).strip()] = " ".join(text[match.end():end].split())
    chosen = [parts[s] for s in sections if parts.get(s)]
    return "\n".join(chosen) if chosen else " ".join(text.split())


class MimicCxrReader(CsvReader):
    default_table = "mimic-cxr-2.0.0-metadata.csv"
    source_keys = CsvReader.source_keys | {"chexpert", "split", "reports", "report_sections"}
    supplied_columns = frozenset({IMAGE_FILE, REPORT, SPLIT, POSITIVE})

    def columns_needed(self) -> list[str]:
        return list(dict.fromkeys(["dicom_id", "subject_id", "study_id", *super().columns_needed()]))

    def source_file(self, key: str, default: str | None = None) -> Path:
        name = self.manifest.source.get(key, default)
        if name and not (self.root / name).is_file() and (self.root / f"{name}.gz").is_file():
            return self.root / f"{name}.gz"
        return super().source_file(key, default)

    def _optional_table(self, key: str) -> list[dict]:
        name = self.manifest.source.get(key)
        if not name or not any((self.root / n).is_file() for n in (name, f"{name}.gz")):
            return []
        with open_text(self.source_file(key)) as f:
            return list(csv.DictReader(f))

    def _positive_findings(self) -> dict[tuple[str, str], str]:
        found = {}
        for row in self._optional_table("chexpert"):
            positive = [col for col, value in row.items() if col not in CHEXPERT_KEYS and _is_positive(value)]
            found[(row["subject_id"], row["study_id"])] = ";".join(positive)
        return found

    def read(self, skip: SkipFn) -> Iterator[Item]:
        splits = {row["dicom_id"]: row["split"] for row in self._optional_table("split")}
        positives = self._positive_findings()
        reports_dir = self.root / self.manifest.source.get("reports", "files")
        sections = self.manifest.source.get("report_sections", ["FINDINGS", "IMPRESSION"])

        @lru_cache(maxsize=256)
        def report(subject_id: str, study_id: str) -> str:
            path = reports_dir / f"{study_folder(subject_id, study_id)}.txt"
            return report_sections(path.read_text(encoding="utf-8", errors="replace"), sections) if path.is_file() else ""

        for where, row in self.rows(skip):
            subject, study, dicom = row["subject_id"].strip(), row["study_id"].strip(), row["dicom_id"].strip()
            row[IMAGE_FILE] = f"{study_folder(subject, study)}/{dicom}.jpg"
            row[REPORT] = report(subject, study)
            row[SPLIT] = splits.get(dicom, "")
            row[POSITIVE] = positives.get((subject, study), "")
            item = self.row_item(row, where, skip)
            if item is not None:
                yield item


def _is_positive(value: str | None) -> bool:
    try:
        return float(value) == POSITIVE_VALUE
    except (TypeError, ValueError):
        return False
