"""One indexing run per index directory: an advisory lock the OS drops when the process dies (no stale locks)."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from medsearch.errors import BadQuery, IndexBusy
from medsearch.index_dir import IndexDir, index_not_found


@contextmanager
def index_lock(index_dir: Path, create: bool = True) -> Iterator[None]:
    """Hold the directory's lock for a writer. ``create``: make the directory (an indexing run); else one that
    holds no index is IndexNotFound before anything is written (delete and compact on a mistyped --index leave
    neither an empty folder nor a .lock in a folder of other files)."""
    files = IndexDir(index_dir)
    if not create and not files.manifest.exists():
        raise index_not_found(index_dir)
    try:
        files.path.mkdir(parents=True, exist_ok=True)
        handle = open(files.lock, "w")
    except OSError as exc:  # a folder that cannot be made or written: one line, not a traceback
        raise BadQuery(f"cannot write the index directory {index_dir}: {exc.strerror or exc}",
                       hint="give --index a folder you can write") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"another indexing run is writing {index_dir}") from None
        yield
