"""Which items have a sentence matching a clause, remembered for one snapshot of an index.

A text query's assertion check asks the full-text index, per finding and status, for every item with a sentence
matching it (medsearch.query.fusion.assertion_sets): four statements per finding, each answering up to thousands
of ids, on every query. Clinical queries repeat their findings ("pneumothorax", "no pneumothorax", "small
pneumothorax"), so the answers are kept here, least recently used first out, until the index changes: ``Index``
clears this cache whenever a writer swaps in a new manifest (a re-analysis of the texts swaps one too).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_IDS = 2_000_000  # item ids held in all, about 120 MB at most (Python ints in sets)


class ClauseItems:
    def __init__(self, max_ids: int = MAX_IDS):
        self.max_ids = max_ids
        self._found: OrderedDict[object, frozenset[int]] = OrderedDict()
        self._size = 0
        self._generation = 0  # bumped by clear: an answer asked before a clear is not kept after it
        self._lock = threading.Lock()

    def lookup(self, store, clauses) -> list[frozenset[int]]:
        """Per clause, the ids of the items with a sentence matching it (``store.lexical_items``): the clauses not
        held yet are asked in one round trip."""
        clauses = list(clauses)
        with self._lock:
            generation = self._generation
            held = {c: self._found[c] for c in clauses if c in self._found}
            for clause in held:
                self._found.move_to_end(clause)
        missing = list(dict.fromkeys(c for c in clauses if c not in held))
        if missing:
            answers = dict(zip(missing, (frozenset(s) for s in store.lexical_items(missing))))
            held.update(answers)
            with self._lock:
                for clause, items in answers.items():
                    if generation == self._generation:
                        self._keep(clause, items)
        return [held[c] for c in clauses]

    def clear(self) -> None:
        with self._lock:
            self._found.clear()
            self._size = 0
            self._generation += 1

    def _keep(self, clause, items: frozenset[int]) -> None:
        if len(items) > self.max_ids:
            return  # larger than the whole cache: asked again each time
        old = self._found.pop(clause, None)
        self._size -= len(old) if old is not None else 0
        self._found[clause] = items
        self._size += len(items)
        while self._size > self.max_ids:
            _, dropped = self._found.popitem(last=False)
            self._size -= len(dropped)
