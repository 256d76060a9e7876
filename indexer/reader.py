"""Reader stage: walk the archive, hash each item, keep only what is new or changed since the last run."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Iterable

from medsearch.archives.item import Item, Skipped


@dataclass
class Pending:
    """An item to embed, with the content hash it will be stored under."""

    item: Item
    content_hash: str


@dataclass
class ReadResult:
    pending: list[Pending] = field(default_factory=list)
    unchanged: int = 0
    seen: int = 0
    keys: set[str] = field(default_factory=set)  # every key the archive yielded (prune removes the others)
    skipped: list[Skipped] = field(default_factory=list)


class ArchiveReader:
    """Items of ``archive`` (the first ``limit`` if given) not yet in the store with the same content hash."""

    def __init__(self, archive, limit: int | None = None):
        self.archive = archive
        self.limit = limit

    def read(self, known_hashes: dict[str, str], on_item: Callable[[], None] | None = None) -> ReadResult:
        result = ReadResult()
        items: Iterable[Item] = self.archive.items()
        for item in islice(items, self.limit):
            result.seen += 1
            result.keys.add(item.key)
            if on_item is not None:
                on_item()
            pending = self._pending(item, result.skipped)
            if pending is None:
                continue
            if known_hashes.get(item.key) == pending.content_hash:
                result.unchanged += 1
            else:
                result.pending.append(pending)
        result.skipped[:0] = list(getattr(self.archive, "skipped", []))
        # a row whose image is unavailable for now (a share not mounted) is still in the archive: not pruned
        result.keys.update(s.key for s in result.skipped if s.key is not None)
        return result

    @staticmethod
    def _pending(item: Item, skipped: list[Skipped]) -> Pending | None:
        if item.image_path is None and not has_text(item):
            skipped.append(Skipped(item.key, "no image and no text", "read"))
            return None
        try:
            return Pending(item, item.content_hash())
        except OSError as exc:  # image listed but gone or unreadable: recorded, the run goes on
            skipped.append(Skipped(item.key, f"cannot read {item.shown_path()}: {exc.strerror or exc.__class__.__name__}", "read"))
            return None


def has_text(item: Item) -> bool:
    return item.text is not None and item.text.strip() != ""
