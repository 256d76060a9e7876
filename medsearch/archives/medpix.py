"""MedPix 2.0 in its published layout (CHILab1/MedPix-2.0, folder ``MedPix-2-0/``).

    ROOT/Descriptions.json     one record per image: Type (CT/MR), U_id (case), image (file name without .png),
                               Location, Location Category, Description {ACR Codes, Age, Sex, Caption,
                               Figure Part, Modality, Plane}
    ROOT/Case_topic.json       one record per case: U_id, TAC / MRI (image names), Case {Title, History, Exam,
                               Findings, Differential Diagnosis, Case Diagnosis, ...}, Topic {Title,
                               Disease Discussion, ACR Code, Category}
    ROOT/images/<image>.png
    ROOT/splitted_dataset/descriptions_<split>.jsonl, data_<split>.jsonl   the published splits (by case)

A root holding only ``splitted_dataset/`` (no Descriptions.json) is read from the split files themselves.

One Item per image: key = the image name, text = its caption, case = U_id, modality normalised from the
Description (CT, MRI), plane / sequence / body location / age / sex as metadata, labels = the image's ACR code and
the case's diagnosis (the topic title). One Case per case record, with its history, exam, findings,
differential and diagnosis. A record's own ``split`` field wins over the split files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsearch.archives.case import Case
from medsearch.archives.item import Item
from medsearch.archives.modality import guess_modality
from medsearch.archives.reader import Reader, SkipFn
from medsearch.errors import BadArchive

NOT_GIVEN = {"", "n/a", "na", "none", "null", "unknown", "nos - not specified"}
TYPE_MODALITY = {"CT": "CT", "MR": "MRI", "MRI": "MRI"}  # the record's Type when the Description says nothing
SPLIT_FILE = re.compile(r"^(?:descriptions|data)_(?P<split>[A-Za-z0-9-]+)\.jsonl$")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
OLDEST_AGE_SHOWN = 89  # HIPAA safe harbour: older ages are shown as "90+"
CASE_SECTIONS = {  # Case_topic.json "Case" heading -> Case section
    "History": "history", "Exam": "exam", "Findings": "findings", "Differential Diagnosis": "differential",
    "Case Diagnosis": "diagnosis",
}


def clean(value: Any) -> str | None:
    """Stripped text, or None for empty values and MedPix's placeholders ("N/A")."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = " ".join(str(value).split()) if "\n" not in str(value) else str(value).strip()
    return None if text.lower() in NOT_GIVEN else text


def age_shown(value: Any) -> str | None:
    text = clean(value)
    if text is None:
        return None
    try:
        return "90+" if int(float(text)) > OLDEST_AGE_SHOWN else str(int(float(text)))
    except ValueError:
        return text


def acr_code(value: Any) -> str | None:
    """An ACR code like "1.3"; MedPix writes unknown parts as -1 ("-1.-1", "8.-1"): those parts are dropped."""
    text = clean(value)
    if text is None:
        return None
    parts = [p for p in text.split(".") if p and not p.startswith("-")]
    return ".".join(parts) or None


def modality_of(record_type: Any, description_modality: Any) -> str | None:
    """CT or MRI: from the Description's modality ("MR - T2 weighted", "CT w/contrast (IV)"), else the Type."""
    return guess_modality(clean(description_modality)) or TYPE_MODALITY.get((clean(record_type) or "").upper())


def sequence_of(description_modality: Any) -> str | None:
    """The part after the modality: "MR - T2 weighted" -> "T2 weighted", "CT w/contrast (IV)" -> "w/contrast (IV)"."""
    text = clean(description_modality)
    if text is None:
        return None
    rest = re.sub(r"^(?:CT|MRA?|MRI)\b\s*-?\s*", "", text)
    return rest or None


class MedPixReader(Reader):
    main_source = "descriptions"
    source_keys = Reader.source_keys | {"descriptions", "cases", "splits"}

    def check(self) -> None:
        super().check()
        name = self.manifest.source.get("descriptions", "Descriptions.json")
        if self.root_file is None and not (self.root / name).is_file() and self._split_records("descriptions"):
            # only the split files: splitted_dataset/descriptions_<split>.jsonl and data_<split>.jsonl
            self.descriptions_path = self.root / self.manifest.source.get("splits", "splitted_dataset")
            self.descriptions = self._split_records("descriptions")
            self.cases_path, self.case_records = self.descriptions_path, self._split_records("data")
            return
        self.descriptions_path = self.source_file("descriptions", "Descriptions.json")
        self.descriptions = self._load_list(self.descriptions_path)
        name = self.manifest.source.get("cases", "Case_topic.json")
        self.cases_path = self.root / name if name and (self.root / name).is_file() else None
        self.case_records = self._load_list(self.cases_path) if self.cases_path else []

    def _split_records(self, prefix: str) -> list:
        """The records of every ``<prefix>_<split>.jsonl`` split file, each with its ``split`` (unless it has one)."""
        records = []
        for raw, path in self.split_files():
            if not path.name.startswith(f"{prefix}_"):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        records.append(None)  # reported as unparsable by read()
                        continue
                    if isinstance(record, dict):
                        record.setdefault("split", raw)
                    records.append(record)
        return records

    @staticmethod
    def _load_list(path: Path) -> list:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadArchive(f"{path.name} is not valid JSON: {exc}", hint="is this MedPix 2.0's layout?") from exc
        if not isinstance(data, list):
            raise BadArchive(f"{path.name} is not a list of records", hint="expected MedPix 2.0's [ {...}, ... ]")
        return data

    def size_hint(self) -> int:
        return len(self.descriptions)

    # -- splits ----------------------------------------------------------------------------------------------

    def split_files(self) -> list[tuple[str, Path]]:
        folder = self.root / self.manifest.source.get("splits", "splitted_dataset")
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.iterdir()):
            match = SPLIT_FILE.match(path.name)
            if match:
                found.append((match.group("split"), path))
        return found

    def _splits(self) -> tuple[dict[str, str], dict[str, str]]:
        """(image name -> split, case id -> split) from the split files; raw split names mapped by [split_map]."""
        images, cases = {}, {}
        for raw, path in self.split_files():
            split = self.manifest.split_map.get(raw, raw)
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a split file is only a lookup; the record itself is read from the main files
                    if not isinstance(record, dict):
                        continue
                    if record.get("image"):
                        images[str(record["image"]).strip()] = split
                    if record.get("U_id"):
                        cases.setdefault(str(record["U_id"]).strip(), split)
        return images, cases

    # -- items -----------------------------------------------------------------------------------------------

    def _case_index(self) -> dict[str, dict]:
        return {str(r["U_id"]).strip(): r for r in self.case_records if isinstance(r, dict) and r.get("U_id")}

    def read(self, skip: SkipFn) -> Iterator[Item]:
        image_splits, case_splits = self._splits()
        cases = self._case_index()
        name = self.descriptions_path.name
        for i, record in enumerate(self.descriptions):
            where = f"{name}[{i}]"
            if not isinstance(record, dict):
                skip(where, f"unparsable record: a JSON {type(record).__name__}, not an object")
                continue
            row = self.flat_row(record, cases, image_splits, case_splits)
            item = self.row_item(row, where, skip)
            if item is not None:
                yield item

    def flat_row(self, record: dict, cases: dict, image_splits: dict, case_splits: dict) -> dict:
        """One Descriptions.json record as flat columns the manifest's [fields] name."""
        description = record.get("Description") if isinstance(record.get("Description"), dict) else {}
        image = clean(record.get("image"))
        case_id = clean(record.get("U_id"))
        case = cases.get(case_id or "", {})
        split = clean(record.get("split")) or image_splits.get(image or "") or case_splits.get(case_id or "")
        return {
            "image": image,
            "image_file": self.image_file(image),
            "caption": clean(description.get("Caption")),
            "case": case_id,
            "split": self.manifest.split_map.get(split, split),
            "modality": modality_of(record.get("Type"), description.get("Modality")),
            "sequence": sequence_of(description.get("Modality")),
            "plane": clean(description.get("Plane")),
            "location": clean(record.get("Location")),
            "location_category": clean(record.get("Location Category")),
            "age": age_shown(description.get("Age")),
            "sex": clean(description.get("Sex")),
            "figure_part": clean(description.get("Figure Part")),
            "acr_code": acr_code(description.get("ACR Codes")),
            "diagnosis": case_diagnosis(case),
        }

    def image_file(self, image: str | None) -> str | None:
        """``<image>.png`` as published; a .jpg/.jpeg copy is accepted when the PNG is not there."""
        if not image:
            return None
        for suffix in IMAGE_SUFFIXES:
            if (self.images_dir() / f"{image}{suffix}").is_file():
                return f"{image}{suffix}"
        return f"{image}{IMAGE_SUFFIXES[0]}"  # missing: reported by the row step with this name

    # -- cases -----------------------------------------------------------------------------------------------

    def cases(self, skip: SkipFn) -> Iterator[Case]:
        _, case_splits = self._splits()
        name = self.cases_path.name if self.cases_path else "Case_topic.json"
        for i, record in enumerate(self.case_records):
            where = f"{name}[{i}]"
            if not isinstance(record, dict) or not clean(record.get("U_id")):
                skip(where, "case record without a U_id")
                continue
            yield self.case_from(record, case_splits)

    def case_from(self, record: dict, case_splits: dict) -> Case:
        key = clean(record["U_id"])
        body = record.get("Case") if isinstance(record.get("Case"), dict) else {}
        topic = record.get("Topic") if isinstance(record.get("Topic"), dict) else {}
        sections = {section: clean(body.get(heading)) for heading, section in CASE_SECTIONS.items()}
        sections["discussion"] = clean(topic.get("Disease Discussion"))
        diagnosis = case_diagnosis(record)
        labels = [f"dx:{diagnosis}"] if diagnosis else []
        code = acr_code(topic.get("ACR Code"))
        if code:
            labels.append(f"acr:{code}")
        split = clean(record.get("split")) or case_splits.get(key)
        images = [clean(x) for field in ("TAC", "MRI") for x in (record.get(field) or []) if clean(x)]
        return Case(
            key=key,
            title=clean(body.get("Title")) or clean(topic.get("Title")),
            sections={k: v for k, v in sections.items() if v},
            diagnosis=diagnosis,
            labels=labels,
            split=self.manifest.split_map.get(split, split),
            licence=self.manifest.licence,
            extra={k: v for k, v in {"category": clean(topic.get("Category")), "acr_code": code,
                                     "images": images}.items() if v},
        )


def case_diagnosis(record: dict) -> str | None:
    """The short diagnosis that names a case: the topic title, else the case diagnosis."""
    if not isinstance(record, dict):
        return None
    topic = record.get("Topic") if isinstance(record.get("Topic"), dict) else {}
    body = record.get("Case") if isinstance(record.get("Case"), dict) else {}
    return clean(topic.get("Title")) or clean(body.get("Case Diagnosis"))
