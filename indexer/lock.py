"""One indexing run per index directory: an advisory lock the OS drops when the process dies (no stale locks)."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from medsearch.errors import IndexBusy
from medsearch.index_dir import IndexDir


@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    files = IndexDir(index_dir)
    files.path.mkdir(parents=True, exist_ok=True)
    with open(files.lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"another indexing run is writing {index_dir}") from None
        yield
