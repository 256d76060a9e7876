"""Readers for one table of rows: CSV/TSV (``reader = "csv"``) and JSON Lines (``reader = "jsonl"``).

Each row becomes one Item through the manifest's [fields]. The table is ``[source] table`` relative to the root;
when the root given is itself a file, that file is the table and its folder is the root.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import sys
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsearch.archives.fields import required_columns
from medsearch.archives.item import Item
from medsearch.archives.reader import Reader, SkipFn
from medsearch.errors import BadArchive


def _raise_field_size_limit() -> None:
    """The csv module refuses fields over 131,072 characters by default, which dropped whole rows holding a long
    report. Raised to the largest the platform accepts: the full text is stored; the encoder truncates it."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:  # a C long is 32 bits on Windows
            limit //= 2


_raise_field_size_limit()


DEFAULT_ENCODING = "utf-8-sig"  # UTF-8, a byte-order mark tolerated
NOT_DECODED = "\ufffd"  # what a byte the encoding cannot decode reads as


def open_text(path: Path, encoding: str = DEFAULT_ENCODING) -> io.TextIOBase:
    """A text stream over a plain or gzip-compressed file: UTF-8 unless told (BOM tolerated; a bad byte reads as
    U+FFFD so one broken row cannot stop the run: the row readers skip such rows), newlines kept for csv."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, errors="replace", newline="")
    return open(path, encoding=encoding, errors="replace", newline="")


def table_encoding(manifest) -> str:
    """The manifest's ``[source] encoding`` (default UTF-8), checked; BadArchive for a name Python lacks."""
    name = manifest.source.get("encoding", DEFAULT_ENCODING)
    try:
        codecs.lookup(name)
    except LookupError:
        raise BadArchive(f"unknown encoding {name!r} under [source]",
                         hint='name one Python knows, e.g. encoding = "cp1252" (Excel on Windows) or "latin-1"') from None
    return name


def undecoded_reason(encoding: str) -> str:
    """Why a row holding bytes ``encoding`` cannot decode is skipped, and how to read it."""
    shown = "UTF-8" if encoding == DEFAULT_ENCODING else encoding
    return (f"unparsable row: not {shown} text (bytes that do not decode); save the table as UTF-8, or set "
            f'encoding = "cp1252" (or the table\'s own) under [source]')


class TableReader(Reader):
    """One row -> one Item. Subclasses implement rows(); read() maps each row through the manifest's [fields]."""

    default_table: str | None = None
    source_keys = Reader.source_keys | {"table", "encoding"}
    supplied_columns: frozenset[str] = frozenset()  # columns a subclass adds to each row itself
    table_path: Path

    def check(self) -> None:
        super().check()
        if not self.manifest.fields.get("id"):
            raise BadArchive(f"manifest {self.manifest.name!r} has no id field", hint='add id = "COLUMN" under [fields]')
        self.table_path = self.source_file("table", self.default_table)
        table_encoding(self.manifest)  # an unknown name is refused before anything is read

    @property
    def encoding(self) -> str:
        return table_encoding(self.manifest)

    @abstractmethod
    def rows(self, skip: SkipFn) -> Iterator[tuple[str, dict]]:
        """(where, row) for every parsable record; unparsable ones go to skip()."""

    def read(self, skip: SkipFn) -> Iterator[Item]:
        for where, row in self.rows(skip):
            item = self.row_item(row, where, skip)
            if item is not None:
                yield item

    def size_hint(self) -> int | None:
        return sum(1 for _ in self.rows(lambda where, reason: None))

    def columns_needed(self) -> list[str]:
        fields = self.manifest.fields
        specs = [fields.get(k) for k in ("id", "image", "text", "patient", "split", "licence", "modality", "case")]
        names = [c for spec in specs for c in required_columns(spec)]
        names += [c for spec in fields.get("extra", []) for c in required_columns(spec)]
        names += [label.field for label in self.manifest.labels]
        return [c for c in dict.fromkeys(names) if c not in self.supplied_columns]


class CsvReader(TableReader):
    source_keys = TableReader.source_keys | {"delimiter"}

    def check(self) -> None:
        super().check()
        header = self._header()
        optional = set(self.manifest.optional_columns)
        missing = [c for c in self.columns_needed() if c not in header and c not in optional]
        if missing:
            raise BadArchive(
                f"{self.table_path.name} lacks column(s) {', '.join(missing)}",
                hint=f"its columns are: {', '.join(header)}; fix [fields] in the manifest",
            )

    def _delimiter(self) -> str:
        default = "\t" if ".tsv" in self.table_path.suffixes else ","
        return self.manifest.source.get("delimiter", default)

    def _header(self) -> list[str]:
        with open_text(self.table_path, self.encoding) as f:
            try:
                return next(csv.reader(f, delimiter=self._delimiter()), [])
            except (csv.Error, OSError) as exc:
                raise BadArchive(f"{self.table_path.name}: cannot read the header: {exc}", hint="is it a CSV file?") from exc

    def rows(self, skip: SkipFn) -> Iterator[tuple[str, dict]]:
        yield from csv_rows(self.table_path, self._delimiter(), skip, self.encoding)


def csv_rows(path: Path, delimiter: str, skip: SkipFn, encoding: str = DEFAULT_ENCODING) -> Iterator[tuple[str, dict]]:
    """(``"NAME:LINE"``, row by header) for every record of a CSV table, LINE being the line the record starts
    on (a quoted field may span lines); a record that cannot be parsed (bad quoting, another field count than
    the header's, bytes ``encoding`` cannot decode) goes to ``skip()`` with its line and the reason; blank lines
    are passed over."""
    name = path.name
    with open_text(path, encoding) as f:
        records = csv.reader(f, delimiter=delimiter, strict=True)  # bad quoting is an error
        header = next(records, [])
        while True:
            line = records.line_num + 1  # where the next record starts
            try:
                values = next(records)
            except StopIteration:
                return
            except csv.Error as exc:
                skip(f"{name}:{line}", f"unparsable row: {exc}")
                continue
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) != len(header):
                skip(f"{name}:{line}", f"unparsable row: {len(values)} fields, header has {len(header)}")
                continue
            if any(NOT_DECODED in value for value in values):
                skip(f"{name}:{line}", undecoded_reason(encoding))
                continue
            yield f"{name}:{line}", dict(zip(header, values))


class JsonlReader(TableReader):
    def rows(self, skip: SkipFn) -> Iterator[tuple[str, dict]]:
        name = self.table_path.name
        with open_text(self.table_path, self.encoding) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                if NOT_DECODED in line:
                    skip(f"{name}:{number}", undecoded_reason(self.encoding))
                    continue
                try:
                    row: Any = json.loads(line)
                except json.JSONDecodeError as exc:
                    skip(f"{name}:{number}", f"unparsable row: {exc.msg}")
                    continue
                if not isinstance(row, dict):
                    skip(f"{name}:{number}", f"unparsable row: a JSON {type(row).__name__}, not an object")
                    continue
                yield f"{name}:{number}", row
