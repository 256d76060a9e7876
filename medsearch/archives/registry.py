"""The one place that maps a manifest's ``reader = "..."`` name to its reader class.

Classes are named as "module:Class" strings and imported only when an archive is opened.
"""

from __future__ import annotations

import importlib

from medsearch.errors import UnknownName

READERS: dict[str, str] = {
    "csv": "medsearch.archives.table:CsvReader",
    "jsonl": "medsearch.archives.table:JsonlReader",
    "iu-xray": "medsearch.archives.iu_xray:IuXrayReader",
    "r2gen": "medsearch.archives.iu_xray:R2GenReader",
    "mimic-cxr": "medsearch.archives.mimic_cxr:MimicCxrReader",
    "dicom-folder": "medsearch.archives.dicom_folder:DicomFolderReader",
    "medpix": "medsearch.archives.medpix:MedPixReader",
}


def reader_class(name: str) -> type:
    """The reader class registered under ``name``; UnknownName (kind "reader") listing the valid ones."""
    if name not in READERS:
        raise UnknownName("reader", name, list(READERS))
    module_name, class_name = READERS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def list_readers() -> list[str]:
    return sorted(READERS)
