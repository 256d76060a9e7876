"""The least value of each count an indexing run takes, declared once: ``IndexOptions`` and ``make_embedder``
refuse less in one line (``check_counts``), and `medsearch index` gives its options the same bounds (typer's
``min=``), so that --help shows them and the command line refuses less before any work. Imports nothing heavy:
the CLI reads it when it starts."""

from __future__ import annotations

from numbers import Integral

from medsearch.errors import BadQuery

LEAST = {
    "batch_size": 1,  # items per encoder batch
    "workers": 0,  # image-decoding processes (0: decode in the main process)
    "limit": 1,  # index only the first N items
    "actors": 1,  # --engine ray: encoder actors
}


def check_counts(**counts: int | None) -> None:
    """BadQuery when a count given (not None) is not a whole number of at least its ``LEAST``."""
    for name, value in counts.items():
        least = LEAST[name]
        if value is not None and (not isinstance(value, Integral) or value < least):
            raise BadQuery(f"{name} must be a whole number >= {least} (got {value!r})",
                           hint=f"e.g. --{name.replace('_', '-')} {max(least, 1)}")
