"""Indiana University chest X-ray collection (Open-i), in its two common layouts.

- ``iu-xray`` (Kaggle layout): indiana_reports.csv (one row per report: uid, MeSH, Problems, findings, impression,
  ...) and indiana_projections.csv (uid, filename, projection). One Item per report; its image is the frontal
  projection when that file is present, so an Item has a report, an image, or both.
- ``iu-xray-r2gen`` (R2Gen annotation.json): {"train": [...], "val": [...], "test": [...]} with entries
  {id, report, image_path: [...], split}. In the widely copied file the test key is four spaces ("    "), so the
  split comes from each entry's own ``split`` when present, else from the key through the manifest's [split_map].
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator

from medsearch.archives.item import Item
from medsearch.archives.reader import Reader, SkipFn
from medsearch.archives.table import CsvReader, open_text
from medsearch.errors import BadArchive

PROJECTION_FILE = "projection_file"  # column the reader adds to each report row
PREFERRED_PROJECTION = "Frontal"


class IuXrayReader(CsvReader):
    default_table = "indiana_reports.csv"
    source_keys = CsvReader.source_keys | {"projections"}
    supplied_columns = frozenset({PROJECTION_FILE})

    def _projections(self) -> dict[str, list[tuple[str, str]]]:
        """uid -> [(filename, projection)], frontal first; empty when the projections file is absent."""
        path = self.root / self.manifest.source.get("projections", "indiana_projections.csv")
        by_uid: dict[str, list[tuple[str, str]]] = defaultdict(list)
        if not path.is_file():
            return by_uid
        with open_text(path) as f:
            for row in csv.DictReader(f):
                if row.get("uid") and row.get("filename"):
                    by_uid[row["uid"].strip()].append((row["filename"].strip(), (row.get("projection") or "").strip()))
        for files in by_uid.values():
            files.sort(key=lambda fp: fp[1] != PREFERRED_PROJECTION)
        return by_uid

    def _image_for(self, files: list[tuple[str, str]]) -> tuple[str, str] | None:
        present = [fp for fp in files if (self.images_dir() / fp[0]).is_file()]
        return (present or files or [None])[0]

    def read(self, skip: SkipFn) -> Iterator[Item]:
        projections = self._projections()
        uid_field = self.manifest.fields.get("id", "uid")
        for where, row in self.rows(skip):
            chosen = self._image_for(projections.get((row.get(uid_field) or "").strip(), []))
            row[PROJECTION_FILE] = chosen[0] if chosen else ""
            item = self.row_item(row, where, skip)
            if item is None:
                continue
            if item.image_path is not None and chosen[1]:
                item.extra["projection"] = chosen[1]
            yield item


class R2GenReader(Reader):
    main_source = "annotation"
    source_keys = Reader.source_keys | {"annotation"}
    FIRST_IMAGE = "first_image"  # field the reader adds: the entry's first image path

    def check(self) -> None:
        super().check()
        self.annotation_path = self.source_file("annotation", "annotation.json")
        try:
            with open(self.annotation_path, encoding="utf-8") as f:
                self.annotation = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadArchive(f"{self.annotation_path.name} is not valid JSON: {exc}", hint="is it an R2Gen annotation file?") from exc
        if not isinstance(self.annotation, dict) or not all(isinstance(v, list) for v in self.annotation.values()):
            raise BadArchive(
                f"{self.annotation_path.name} is not an R2Gen annotation file",
                hint='expected {"train": [...], "val": [...], "test": [...]}',
            )

    def size_hint(self) -> int:
        return sum(len(entries) for entries in self.annotation.values())

    def read(self, skip: SkipFn) -> Iterator[Item]:
        name = self.annotation_path.name
        for key, entries in self.annotation.items():
            for i, entry in enumerate(entries):
                where = f"{name}:{key!r}[{i}]"
                if not isinstance(entry, dict):
                    skip(where, f"unparsable entry: a JSON {type(entry).__name__}, not an object")
                    continue
                images = entry.get("image_path") or []
                row = {**entry, self.FIRST_IMAGE: images[0] if isinstance(images, list) and images else None}
                row.setdefault("split", self.manifest.split_map.get(key, key))  # raw key: "    " is blank once stripped
                item = self.row_item(row, where, skip)
                if item is not None:
                    yield item
