"""Append-only float32 ``.npy`` vector files: row number = vector id, readable by ``np.load(mmap_mode="r")``.

An append writes the rows after the last committed row, then rewrites the header with the new row count.
NumPy pads ``.npy`` headers so the row count can grow in place, so the header never moves. A run killed
between the two steps leaves bytes past the committed rows; the next append truncates them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

from medsearch.errors import IndexCorrupt


class VectorFile:
    def __init__(self, path: Path, dim: int):
        self.path = Path(path)
        self.dim = dim

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as f:
            return self._read_header(f)[0]

    def append(self, rows: np.ndarray) -> range:
        """Append rows; returns their vector ids."""
        rows = np.ascontiguousarray(rows, dtype="<f4")
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise IndexCorrupt(f"vectors of shape {rows.shape} cannot go into {self.path.name} (dim {self.dim})")
        if not self.path.exists():
            with open(self.path, "wb") as f:
                self._write_header(f, 0)
        with open(self.path, "r+b") as f:
            count, offset = self._read_header(f)
            end = offset + count * self.dim * 4
            f.truncate(end)
            f.seek(end)
            f.write(rows.tobytes())
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            self._write_header(f, count + len(rows))
            if f.tell() != offset:
                raise IndexCorrupt(f"{self.path.name}: header grew while appending")
            f.flush()
            os.fsync(f.fileno())
        return range(count, count + len(rows))

    def truncate(self, rows: int) -> int:
        """Forget rows past ``rows`` (orphans of a killed run: vectors no store row points at); returns how many
        were dropped. Only ever shrinks to rows no reader's manifest counts."""
        count = self.count()
        if rows >= count:
            return 0
        with open(self.path, "r+b") as f:
            self._read_header(f)
            f.seek(0)
            self._write_header(f, rows)
            f.flush()
            os.fsync(f.fileno())  # the bytes stay until the next append overwrites them (no reader maps them)
        return count - rows

    def read(self, start: int = 0) -> np.ndarray:
        """Rows from ``start`` on (memory-mapped)."""
        if not self.path.exists():
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.load(self.path, mmap_mode="r")[start:]

    def _write_header(self, f, count: int) -> None:
        npy.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (count, self.dim)})

    def _read_header(self, f) -> tuple[int, int]:
        try:
            npy.read_magic(f)
            shape, fortran, dtype = npy.read_array_header_1_0(f)
        except ValueError as exc:
            raise IndexCorrupt(f"{self.path} is not a vector file: {exc}") from exc
        if fortran or dtype != np.dtype("<f4") or len(shape) != 2 or shape[1] != self.dim:
            raise IndexCorrupt(f"{self.path} holds {dtype} {shape}, expected float32 (n, {self.dim})")
        return shape[0], f.tell()
