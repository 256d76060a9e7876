"""Phrasing robustness: do phrasings that mean the same thing return the same top-k?

For each query group (medsearch/eval/phrasing_groups.json) every phrasing is searched and the group scores the
mean pairwise top-k Jaccard and the mean pairwise rank agreement (average overlap). Each setting switches the
prompt ensemble and the lexicon expansion of ``Index.search_text`` on or off.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medsearch.errors import BadArchive
from medsearch.eval import metrics

GROUPS_PATH = Path(__file__).parent / "phrasing_groups.json"

# setting name -> (ensemble, expand)
SETTINGS: dict[str, tuple[bool, bool]] = {
    "plain": (False, False),
    "ensemble": (True, False),
    "lexicon": (False, True),
    "ensemble+lexicon": (True, True),
}


GROUPS_HINT = 'give a JSON file {"groups": [{"id": ..., "queries": ["one phrasing", "another", ...]}, ...]}'


def load_groups(path: Path | None = None) -> list[dict]:
    """The phrasing groups of a JSON file: each an ``id`` and two or more ``queries`` (strings); groups with
    fewer queries are left out. A file of another shape, or with no usable group, is a BadArchive."""
    path = Path(path or GROUPS_PATH)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BadArchive(f"cannot read phrasing groups from {path}: {exc}", hint=GROUPS_HINT) from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise BadArchive(f"{path} holds no \"groups\" list", hint=GROUPS_HINT)
    for number, group in enumerate(groups, start=1):
        queries = group.get("queries") if isinstance(group, dict) else None
        if (not isinstance(group, dict) or "id" not in group or not isinstance(queries, list)
                or not all(isinstance(q, str) for q in queries)):
            raise BadArchive(f"group {number} of {path} needs an \"id\" and a \"queries\" list of strings",
                             hint=GROUPS_HINT)
    usable = [g for g in groups if len(g["queries"]) >= 2]
    if not usable:
        raise BadArchive(f"{path} has no group with two or more queries to compare", hint=GROUPS_HINT)
    return usable


def group_agreement(result_lists: list[list], k: int) -> dict:
    lists = [list(r)[:k] for r in result_lists]
    return {"jaccard": metrics.mean_pairwise(metrics.jaccard, lists),
            "rank_agreement": metrics.mean_pairwise(lambda a, b: metrics.average_overlap(a, b, k), lists)}


def run_phrasing(index, groups: list[dict], k: int = 10, target: str = "image",
                 settings: dict[str, tuple[bool, bool]] | None = None, lexicon_terms=None) -> dict:
    """``index`` is a medsearch.search.Index (anything with ``search_text(query, k, target, ensemble, expand)``)."""
    settings = settings or SETTINGS
    summary, per_group = {}, {g["id"]: {"kind": g.get("kind"), "queries": g["queries"]} for g in groups}
    for name, (ensemble, expand) in settings.items():
        scores = []
        for g in groups:
            lists = [[hit.item_id for hit in index.search_text(q, k=k, target=target, ensemble=ensemble, expand=expand)]
                     for q in g["queries"]]
            agreement = group_agreement(lists, k)
            per_group[g["id"]][name] = agreement
            scores.append(agreement)
        jac = np.array([s["jaccard"] for s in scores])
        summary[name] = {
            "ensemble": ensemble, "expand": expand,
            "mean_jaccard": float(jac.mean()), "median_jaccard": float(np.median(jac)),
            "mean_rank_agreement": float(np.mean([s["rank_agreement"] for s in scores])),
            "groups_at_or_above_0.9": int((jac >= 0.9).sum()),
        }
    by_kind: dict[str, dict] = {}
    for g in groups:
        kind = by_kind.setdefault(g.get("kind") or "other", {name: [] for name in settings})
        for name in settings:
            kind[name].append(per_group[g["id"]][name]["jaccard"])
    return {
        "benchmark": "phrasing", "k": k, "target": target, "groups": len(groups),
        "settings": summary,
        "by_kind_mean_jaccard": {kind: {n: float(np.mean(v)) for n, v in d.items()} for kind, d in by_kind.items()},
        "per_group": per_group,
    }


def lexicon_gaps(groups: list[dict], lexicon) -> list[str]:
    """Upper-case short forms used in the groups that the lexicon does not expand (to tell its owner)."""
    from medsearch.prompts import normalise

    missing = []
    for g in groups:
        for q in g["queries"]:
            if q.isupper():  # a whole query in capitals is a formatting variant, not short forms
                continue
            for word in q.split():
                token = word.strip(".,")
                if token.isupper() and len(token) >= 2 and normalise(token) not in lexicon.entries:
                    missing.append(token)
    return sorted(set(missing))
