"""Which query rewriting makes equal-meaning phrasings agree: lexicon expansion styles x prompt template sets.

Runs the phrasing benchmark (``medsearch.eval.robustness``, 57 groups of equivalent queries) on an index for
every expansion style in ``medsearch.prompts.EXPANSION_STYLES`` (plus no expansion) and, for the text target,
each template set; reports mean top-10 Jaccard per setting and per group kind.

    python benchmarks/lexicon_styles.py --index /tmp/demo_def --out benchmarks/results/lexicon_styles.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import medsearch.prompts as prompts
from medsearch.eval.robustness import load_groups, run_phrasing
from medsearch.search import open_index


def run(index, groups, target: str, style: str | None, template_set: str | None, k: int) -> dict:
    original_lexicon, original_sets = prompts.default_lexicon, dict(prompts.DEFAULT_TEMPLATE_SET)
    try:
        if style is not None:
            prompts.default_lexicon = lambda *_: original_lexicon(style)
        if template_set is not None:
            prompts.DEFAULT_TEMPLATE_SET[target] = template_set
        ensemble = template_set != "none"
        result = run_phrasing(index, groups, k=k, target=target, settings={"run": (ensemble, style is not None)})
    finally:
        prompts.default_lexicon = original_lexicon
        prompts.DEFAULT_TEMPLATE_SET.clear()
        prompts.DEFAULT_TEMPLATE_SET.update(original_sets)
    return {"mean_jaccard": round(result["settings"]["run"]["mean_jaccard"], 4),
            "by_kind": {kind: round(v["run"], 4) for kind, v in result["by_kind_mean_jaccard"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--targets", nargs="+", default=["image", "text"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    groups = load_groups()
    report = {"index": str(args.index), "k": args.k, "groups": len(groups), "runs": []}
    with open_index(args.index) as index:
        report["model_id"] = index.manifest.model_id
        for target in args.targets:
            for template_set in dict.fromkeys([prompts.DEFAULT_TEMPLATE_SET[target], "clinical", "report", "none"]):
                for style in [None, *prompts.EXPANSION_STYLES]:
                    row = {"target": target, "templates": template_set, "expansion": style or "off",
                           **run(index, groups, target, style, template_set, args.k)}
                    print(json.dumps(row), flush=True)
                    report["runs"].append(row)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
