"""Opening an archive: a manifest (built-in name or .toml path) + a root folder -> an iterable of Items."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from medsearch.archives.case import Case
from medsearch.archives.item import Item, Skipped
from medsearch.archives.manifest import Manifest, builtin_manifest_paths, load_manifest
from medsearch.archives.reader import Reader
from medsearch.archives.registry import reader_class
from medsearch.errors import UnknownManifest


class Archive:
    """One readable archive. ``items()`` yields Items; rows it could not use land in ``skipped`` (refilled on
    every pass). Keys are unique within an archive: a repeated key is skipped with its reason."""

    def __init__(self, manifest: Manifest, root: Path, reader: Reader):
        self.manifest = manifest
        self.name = manifest.name
        self.root = root
        self.reader = reader
        self.skipped: list[Skipped] = []

    def items(self) -> Iterator[Item]:
        self.skipped = []
        seen: set[str] = set()
        for item in self.reader.read(self._skip):
            if item.key in seen:
                self._skip(item.key, "duplicate id")
                continue
            seen.add(item.key)
            yield item

    def cases(self) -> Iterator[Case]:
        """The archive's case records (MedPix history/findings/diagnosis...); none for most layouts. Unusable
        records are added to ``skipped``; a repeated case key is skipped."""
        seen: set[str] = set()
        for case in self.reader.cases(self._skip):
            if case.key in seen:
                self._skip(f"case {case.key}", "duplicate case id")
                continue
            seen.add(case.key)
            yield case

    def size_hint(self) -> int | None:
        """About how many items there are (rows before skipping; a quick pass for tables), or None if unknown."""
        return self.reader.size_hint()

    def __iter__(self) -> Iterator[Item]:
        return self.items()

    def _skip(self, where: str, reason: str, key: str | None = None) -> None:
        self.skipped.append(Skipped(where=where, reason=reason, stage="read", key=key))

    def __repr__(self) -> str:
        return f"Archive(name={self.name!r}, root={str(self.root)!r}, reader={self.manifest.reader!r})"


@dataclass(frozen=True)
class ArchiveInfo:
    name: str
    reader: str
    description: str
    default_root: str | None


def _manifest_for(name_or_path: str | Path) -> Manifest:
    text = str(name_or_path)
    builtin = builtin_manifest_paths()
    if text in builtin:
        return load_manifest(builtin[text])
    if text.endswith(".toml") or Path(text).is_file():
        return load_manifest(text)
    raise UnknownManifest(text, list(builtin))


def open_archive(name_or_manifest_path: str | Path, root: str | Path | None = None, show_paths: bool = False) -> Archive:
    """Open a built-in archive by name ("roco", "demo", ...) or any manifest .toml file, reading from ``root``
    (default: the manifest's default_root). Raises UnknownManifest, BadArchive (with a hint) when unreadable.
    ``show_paths``: readers whose file paths may name a patient (dicom-folder) show and store them anyway."""
    manifest = _manifest_for(name_or_manifest_path)
    resolved_root = manifest.resolve_root(root)
    reader = reader_class(manifest.reader)(manifest, resolved_root)
    reader.show_paths = show_paths
    reader.check()
    return Archive(manifest, reader.root, reader)


def list_archives() -> list[ArchiveInfo]:
    """The built-in manifests, by name."""
    infos = []
    for path in builtin_manifest_paths().values():
        m = load_manifest(path)
        infos.append(ArchiveInfo(m.name, m.reader, m.description, m.default_root))
    return infos
