"""The per-snapshot memory of which items match a clause (search/clause_items.py): asked once, one round trip for
what is missing, bounded, and never keeping an answer asked before the index changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_test_index

from medsearch.lexical.query import parse
from medsearch.search import open_index
from medsearch.search.clause_items import ClauseItems
from medsearch.store import Store

REPORTS = ["Large right pneumothorax.", "No pneumothorax.", "Small left pleural effusion.", "Cardiomegaly."]


class CountingStore:
    """A real store that counts the clauses it is asked about (the spy of this test, not a stand-in)."""

    def __init__(self, store: Store):
        self.store, self.asked = store, []

    def lexical_items(self, clauses):
        self.asked.append(list(clauses))
        return self.store.lexical_items(clauses)


@pytest.fixture
def store(tmp_path):
    items = [dict(key=f"r{i}", text=t) for i, t in enumerate(REPORTS)]
    write_test_index(tmp_path / "idx", items, Path("/reports"))
    with open_index(tmp_path / "idx") as index:
        yield CountingStore(index.store)


def clause(query: str):
    return parse(query).clauses[0]


def test_asks_only_for_clauses_not_held_and_in_one_round_trip(store):
    cache = ClauseItems()
    ptx, effusion = clause("pneumothorax"), clause("pleural effusion")
    first = cache.lookup(store, [ptx])
    assert first == store.store.lexical_items([ptx]) and first[0]  # item 1 ("Large right pneumothorax.")
    both = cache.lookup(store, [effusion, ptx, effusion])
    assert both == [*store.store.lexical_items([effusion]), first[0], both[0]]
    assert store.asked == [[ptx], [effusion]]  # the held one not asked again, the repeated one asked once


def test_least_recently_used_answers_go_first_when_full(store):
    ptx, effusion, heart = clause("pneumothorax"), clause("pleural effusion"), clause("cardiomegaly")
    cache = ClauseItems(max_ids=2)  # each of these clauses matches one item
    cache.lookup(store, [ptx])
    cache.lookup(store, [effusion])
    cache.lookup(store, [ptx])  # now the most recently used
    cache.lookup(store, [heart])  # over the bound: effusion goes
    store.asked.clear()
    cache.lookup(store, [ptx, heart, effusion])
    assert store.asked == [[effusion]]


def test_an_answer_asked_before_a_clear_is_not_kept(store):
    cache = ClauseItems()
    ptx = clause("pneumothorax")

    class ClearedMeanwhile(CountingStore):
        def lexical_items(self, clauses):
            cache.clear()  # a writer swapped the manifest while the store was being asked
            return super().lexical_items(clauses)

    racing = ClearedMeanwhile(store.store)
    assert cache.lookup(racing, [ptx]) == store.store.lexical_items([ptx])
    cache.lookup(racing, [ptx])
    assert len(racing.asked) == 2
