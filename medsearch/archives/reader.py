"""The base class every archive reader follows, and the row -> Item step most of them share.

A reader is constructed with a parsed manifest and an absolute archive root. ``check()`` runs when the archive
is opened and raises ``BadArchive`` (with a hint) when the archive cannot be read as a whole: root missing, table
missing, required columns missing. ``read(skip)`` then yields Items; a row that cannot become an Item is passed to
``skip(where, reason)`` and the reader goes on. Readers never decode images: the indexer does that later and
records decode failures itself.

To add a reader: subclass ``Reader``, implement ``read`` (and ``check`` if the layout has required files), and add
one line to ``medsearch/archives/registry.py``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from medsearch.archives.case import Case
from medsearch.archives.fields import get_field, get_labels
from medsearch.archives.item import Item
from medsearch.archives.manifest import Manifest
from medsearch.archives.modality import guess_modality
from medsearch.archives.paths import OUTSIDE_ROOT, inside_root, resolve_root
from medsearch.errors import BadArchive
from medsearch.privacy import patient_key

SkipFn = Callable[..., None]  # skip(where, reason), or skip(where, reason, key=KEY) for a row still in the archive


class Reader(ABC):
    main_source = "table"  # the [source] key a root given as a file stands for
    show_paths = False  # set by open_archive(show_paths=True): paths that may name a patient are shown anyway
    source_keys: frozenset[str] = frozenset({"images"})  # the [source] keys this reader reads (others are typos)
    hides_paths = False  # True when skip reports name files by a pseudonym unless show_paths (paths may name a patient)

    def __init__(self, manifest: Manifest, root: Path):
        self.manifest = manifest
        self.root = resolve_root(root)  # the same canonical form whatever spelling the user gave (../data, ~/x)
        self.root_file: Path | None = None  # a root given as a file: the archive's main file, its folder the root
        if self.root.is_file():
            self.root_file, self.root = self.root, self.root.parent

    def check(self) -> None:
        """Raise BadArchive when the archive cannot be read at all. The default checks the [source] keys (each one
        this reader reads) and that the root exists."""
        unknown = sorted(set(self.manifest.source) - self.source_keys)
        if unknown:
            raise BadArchive(f"manifest {self.manifest.name!r}: unknown [source] key(s) {', '.join(unknown)} for "
                             f"reader {self.manifest.reader!r}", hint=f"its keys are: {', '.join(sorted(self.source_keys))}")
        if not self.root.is_dir():
            raise BadArchive(
                f"archive root not found: {self.root}",
                hint=f"pass --root DIR pointing at the folder that holds {self.manifest.layout_hint()}",
            )

    def size_hint(self) -> int | None:
        """About how many items read() will yield (rows before skipping), for progress bars; None if unknown."""
        return None

    @abstractmethod
    def read(self, skip: SkipFn) -> Iterator[Item]:
        """Yield every usable Item; call skip(where, reason) for every row that is not usable."""

    def cases(self, skip: SkipFn) -> Iterator[Case]:
        """Yield the archive's case records (history, findings, diagnosis...). Most layouts have none: their
        items may still name a case (``Item.case``) that groups them."""
        return iter(())

    # -- helpers shared by readers ---------------------------------------------------------------------------

    def source_file(self, key: str, default: str | None = None) -> Path:
        """A file named in [source] (relative to the root); BadArchive with a hint when it is missing."""
        if self.root_file is not None and key == self.main_source:
            return self.root_file
        name = self.manifest.source.get(key, default)
        if not name:
            raise BadArchive(
                f"manifest {self.manifest.name!r} does not name its {key} file",
                hint=f'add {key} = "FILE" under [source]',
            )
        path = self.root / name
        if not path.is_file():
            raise BadArchive(
                f"{name} not found in {self.root}",
                hint=f"pass --root DIR pointing at the folder that holds {name}",
            )
        return path

    def images_dir(self) -> Path:
        return self.root / self.manifest.source.get("images", ".")

    def resolve_image(self, relpath: str) -> tuple[Path, str] | str:
        """(real path, path relative to the root) for an image field value, or a reason it is unusable. The real
        path (symlinks followed) must lie under the root: checked before anything opens the file."""
        absolute = Path(os.path.abspath(self.images_dir() / relpath))
        try:
            display = absolute.relative_to(self.root).as_posix()
        except ValueError:
            return f"{OUTSIDE_ROOT}: {relpath}"
        real = inside_root(absolute, self.root)
        if real is None:
            return f"{OUTSIDE_ROOT}: {display} (a link to a file elsewhere)"
        if not real.is_file():
            return f"image file not found: {display}"
        return real, display

    def row_item(self, row: Any, where: str, skip: SkipFn) -> Item | None:
        """The Item for one row under the manifest's [fields], or None after calling skip()."""
        fields, manifest = self.manifest.fields, self.manifest
        key = get_field(row, fields.get("id"))
        if key is None:
            skip(where, "empty id")
            return None
        text = get_field(row, fields.get("text"))
        image_path, extra = None, {}
        image_value = get_field(row, fields.get("image"))
        if image_value is not None:
            resolved = self.resolve_image(image_value)
            if isinstance(resolved, str):  # the row stays in the archive: its key keeps its indexed item
                if manifest.missing_image == "skip":
                    skip(where, resolved, key=key)
                    return None
                if text is None:
                    skip(where, f"empty text and {resolved}", key=key)
                    return None
            else:
                image_path, extra["image_relpath"] = resolved
        if image_path is None and text is None:
            skip(where, "empty text and no image")
            return None
        for name in fields.get("extra", []):
            value = get_field(row, name)
            if value is not None:
                extra[name] = value
        split = get_field(row, fields.get("split"))
        modality = get_field(row, fields.get("modality")) or manifest.modality
        if modality is None and manifest.guess_modality:
            modality = guess_modality(text)
        return Item(
            key=key,
            image_path=image_path,
            text=text,
            labels=get_labels(row, manifest.labels),
            patient=patient_key(get_field(row, fields.get("patient"))),
            split=manifest.split_map.get(split, split),
            licence=get_field(row, fields.get("licence")) or manifest.licence,
            modality=modality,
            extra=extra,
            case=get_field(row, fields.get("case")),
        )
