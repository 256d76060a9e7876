"""Cases stage: store the archive's case records (history, findings, diagnosis...) with a text vector each.

Runs after the items are written, so it knows which cases the stored items name: only those cases are kept
(an ``--limit`` run keeps the cases of the items it indexed); cases no stored item names are removed. A case
is embedded again only when its content hash changed. Archives without case records store nothing here: their
items may still name a case (``Item.case``), which groups results without any case text.
"""

from __future__ import annotations

import numpy as np

from medsearch.store.cases import NewCase
from medsearch.teaching.case_lexical import TERMS_KEY, case_terms

CASE_BATCH = 32


def index_cases(archive, store, archive_id: int, encoder, batch_size: int = CASE_BATCH) -> int:
    """Write new or changed cases; returns how many were (re)embedded."""
    wanted = store.item_case_keys(archive_id)
    known = store.case_hashes(archive_id)
    changed, present = [], set()
    for case in getattr(archive, "cases", lambda: iter(()))():
        if case.key not in wanted:
            continue
        present.add(case.key)
        if known.get(case.key) != case.content_hash():
            changed.append(case)
    for start in range(0, len(changed), batch_size):
        chunk = changed[start:start + batch_size]
        vectors = np.asarray(encoder.encode_texts([case.text() for case in chunk]), dtype=np.float32)
        records = [NewCase.from_case(case, vector) for case, vector in zip(chunk, vectors)]
        for record in records:  # the lexical case search reads these instead of analysing every text per query
            record.extra[TERMS_KEY] = dict(case_terms(record.text))
        store.add_cases(archive_id, records)
    store.remove_cases(archive_id, [key for key in known if key not in present])
    return len(changed)


def reanalyse_cases(store) -> int:
    """Every stored case's lexical terms computed again with the running code's analysis (``--reanalyse``);
    returns how many cases were read."""
    texts = store.case_texts()
    store.set_case_extras({key: {**extra, TERMS_KEY: dict(case_terms(text))} for key, (text, extra) in texts.items()})
    return len(texts)
