"""Archive roots and the files under them, resolved one way everywhere.

A root is resolved once (``..`` and symlinks in it followed), and every file is checked by its *real* path
(symlinks followed) against that root before anything opens it: a symlink under the root that points outside
it, to ``/etc/passwd`` or to a JPEG elsewhere, is refused with the same reason as a ``../`` path.
"""

from __future__ import annotations

import os
from pathlib import Path

OUTSIDE_ROOT = "image path outside the archive root"


def resolve_root(root: str | Path) -> Path:
    """The canonical form of an archive root: ``~`` expanded, made absolute, ``..`` and symlinks resolved."""
    return Path(os.path.realpath(Path(root).expanduser()))


def inside_root(path: str | Path, root: Path) -> Path | None:
    """The real path of ``path`` when it lies under ``root`` (a resolved root), else None. Nothing is opened."""
    real = Path(os.path.realpath(path))
    return real if real == root or real.is_relative_to(root) else None


def is_real_file(path: str | Path) -> bool:
    """True when ``path`` is a regular file reached without any symlink, i.e. it is its own real path. A stored
    image path that fails this was swapped for (or is) a link after indexing: nothing should open it."""
    absolute = Path(os.path.abspath(path))
    return Path(os.path.realpath(absolute)) == absolute and absolute.is_file()
