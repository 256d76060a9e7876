"""A folder tree of DICOM files (``reader = "dicom-folder"``), with reports joined from an optional CSV.

    ROOT/<any/sub/folders>/<file>          DICOM files, found by content (extension does not matter)
    ROOT/reports.csv                       optional: one row per study, e.g. StudyInstanceUID,report,labels

Manifest options ([source] and [fields]; all optional):

    [source]
    images = "."                           folder to walk, relative to the root
    reports = "reports.csv"                the report table (default: ROOT/reports.csv when there; else image-only items)
    report_key = "StudyInstanceUID"        DICOM keyword joined on (AccessionNumber works too)
    report_key_column = "StudyInstanceUID" CSV column holding that value (default: same as report_key)
    [fields]
    text = "report"                        CSV column(s) with the report text
    split = "split"                        CSV column with the split
    [[labels]] field = "labels"            CSV label columns, as for every table reader

One Item per DICOM file: key = a keyed hash of its path ("dcm-<20 hex>", see medsearch.privacy.pseudonym; never the
path itself, which may name the patient); modality from the Modality tag; patient =
patient_key(PatientID); extra = the safe tags of ``medsearch.imaging.dicom_metadata`` (never PHI). The join key is
read from the header and used only for the join: AccessionNumber is PHI and is never stored. Headers are read
with stop_before_pixels; pixels are decoded later by the indexer, which records files it cannot decode.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from medsearch.archives.fields import get_field, get_labels, required_columns
from medsearch.archives.item import Item
from medsearch.archives.paths import OUTSIDE_ROOT, inside_root
from medsearch.archives.reader import Reader, SkipFn
from medsearch.archives.table import csv_rows, open_text, table_encoding
from medsearch.errors import BadArchive, ImageLoadError

DEFAULT_REPORTS = "reports.csv"  # joined when the manifest names no report table and the root holds one
DEFAULT_REPORT_KEY = "StudyInstanceUID"
DEFAULT_TEXT_COLUMN = "report"


class DicomFolderReader(Reader):
    main_source = "reports"  # a root given as a file is the report table; its folder holds the DICOM files
    source_keys = Reader.source_keys | {"reports", "report_key", "report_key_column", "encoding"}
    hides_paths = True  # a skipped file is named by its key, never its path, unless show_paths

    def check(self) -> None:
        super().check()
        if not self.images_dir().is_dir():
            raise BadArchive(
                f"DICOM folder not found: {self.images_dir()}",
                hint="fix [source] images in the manifest (a folder relative to the root)",
            )
        if self.reports_path() is not None:
            self._report_header_check()

    # -- reports ---------------------------------------------------------------------------------------------

    def reports_path(self) -> Path | None:
        """The report table: [source] reports, the root when given as a file, else ROOT/reports.csv if there."""
        if self.root_file is None and not self.manifest.source.get("reports"):
            default = self.root / DEFAULT_REPORTS
            return default if default.is_file() else None
        return self.source_file("reports")

    def size_hint(self) -> int | None:
        return sum(1 for _ in self.dicom_files())

    def report_key(self) -> str:
        return self.manifest.source.get("report_key", DEFAULT_REPORT_KEY)

    def report_key_column(self) -> str:
        return self.manifest.source.get("report_key_column", self.report_key())

    def text_spec(self):
        return self.manifest.fields.get("text", DEFAULT_TEXT_COLUMN)

    def _report_header_check(self) -> None:
        path = self.reports_path()
        with open_text(path, table_encoding(self.manifest)) as f:
            header = next(csv.reader(f), [])
        needed = [self.report_key_column(), *required_columns(self.text_spec())]
        needed += required_columns(self.manifest.fields.get("split"))
        needed += [label.field for label in self.manifest.labels]
        missing = [c for c in dict.fromkeys(needed) if c not in header]
        if missing:
            raise BadArchive(
                f"{path.name} lacks column(s) {', '.join(missing)}",
                hint=f"its columns are: {', '.join(header)}; fix [source] report_key_column or [fields]",
            )

    def load_reports(self, skip: SkipFn) -> dict[str, tuple[str, dict]]:
        """(where, row) of each report by join key; a row that cannot be parsed, or has an empty or repeated key,
        is skipped with its line and reason."""
        path = self.reports_path()
        if path is None:
            return {}
        reports: dict[str, tuple[str, dict]] = {}
        column = self.report_key_column()
        for where, row in csv_rows(path, ",", skip, table_encoding(self.manifest)):
            key = (row.get(column) or "").strip()
            if not key:
                skip(where, f"empty {column}")
            elif key in reports:
                skip(where, f"repeated {column} (first row kept)")
            else:
                reports[key] = (where, row)
        return reports

    # -- DICOM files -----------------------------------------------------------------------------------------

    def dicom_files(self) -> Iterator[Path]:
        """Every non-hidden file under the images folder, in a stable order, except the report table."""
        reports = self.reports_path()
        for folder, dirs, files in os.walk(self.images_dir()):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(folder) / name
                if not name.startswith(".") and path != reports:
                    yield path

    def read(self, skip: SkipFn) -> Iterator[Item]:
        from medsearch.imaging import dicom_metadata
        from medsearch.imaging.metadata import read_header
        from medsearch.privacy import patient_key, pseudonym

        reports = self.load_reports(skip)
        joined: set[str | None] = set()
        for path in self.dicom_files():
            relpath = path.relative_to(self.root).as_posix()
            # One item per file, as before (two files may share a SOPInstanceUID): a keyed hash of the path.
            key = pseudonym("dcm", relpath)
            where = relpath if self.show_paths else key  # skip reports name the file only when asked
            real = inside_root(path, self.root)
            if real is None:  # checked before the header is read: a link must not make us open files elsewhere
                skip(where, f"{OUTSIDE_ROOT}: {where} (a link to a file elsewhere)")
                continue
            path = real
            try:
                header = read_header(path)
            except ImageLoadError as exc:
                skip(where, exc.reason)
                continue
            join_value = header.get(self.report_key())
            join_key = str(join_value).strip() if join_value is not None else None
            report = reports[join_key][1] if join_key in reports else None
            joined.add(join_key)
            extra = {k: v for k, v in dicom_metadata(header).items() if k != "patient_key" and v is not None}
            # The key is a pseudonym: folder names often carry a patient's name and ID ("DOE^JOHN_105534/"), so
            # neither the key nor extra holds the path (the store keeps the absolute path for thumbnails only),
            # unless the user asked for paths (open_archive(show_paths=True), CLI --show-paths).
            if self.show_paths:
                extra["image_relpath"] = relpath
            split = get_field(report, self.manifest.fields.get("split")) if report else None
            yield Item(
                key=key,
                image_path=path,
                text=get_field(report, self.text_spec()) if report else None,
                labels=get_labels(report, self.manifest.labels) if report else [],
                patient=patient_key(header.get("PatientID")),
                split=self.manifest.split_map.get(split, split),
                licence=self.manifest.licence,
                modality=extra.get("Modality") or self.manifest.modality,
                extra=extra,
                case=extra.get("study_key"),  # the hashed StudyInstanceUID: a study's series form one case
            )
        # every file read: a report no file joined is not indexed; said by its line (its key may be PHI)
        for key, (where, _) in reports.items():
            if key not in joined:
                skip(where, f"report matches no DICOM file (no file has its {self.report_key()})")
