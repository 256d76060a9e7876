"""Print the markdown tables of benchmarks/README.md from the committed results JSON files.

    python benchmarks/summarise.py            # reads benchmarks/results/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def variants(row: dict) -> dict[str, dict]:
    """ranking name -> {recall_at_10, qps} for one nprobe row: raw PQ and each exact-rescoring depth."""
    out = {"raw PQ": {"recall_at_10": row["recall_at_10"], "qps": row["qps"]}}
    for depth, values in row.get("rescored", {}).items():
        out[f"rescore {depth}"] = values
    return out


def ann_table(target: float = 0.95) -> list[str]:
    data = load("ann.json") or {"results": []}
    out = ["| vectors | factory | ranking | nprobe | recall@10 | queries/s | exact queries/s | speed-up | index bytes/vector | IVF-PQ build s |",
           "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in data["results"]:
        pq, exact_qps = r["ivfpq"], r["exact"]["qps"]
        names = variants(pq["sweep"][0])
        for name in names:
            rows = [(row["nprobe"], variants(row)[name]) for row in pq["sweep"]]
            ok = [x for x in rows if x[1]["recall_at_10"] >= target]
            nprobe, v = max(ok, key=lambda x: x[1]["qps"]) if ok else max(rows, key=lambda x: x[1]["recall_at_10"])
            note = "" if ok else " (best; < target)"
            out.append(f"| {r['n']:,} | {pq['factory']} | {name} | {nprobe} | {v['recall_at_10']:.3f}{note} | "
                       f"{v['qps']:,.0f} | {exact_qps:,.0f} | {v['qps'] / exact_qps:.1f}x | {pq['bytes_per_vector']:.1f} | "
                       f"{pq['build_s']:.0f} |")
    return out


def main() -> None:
    lines = ["### ANN (synthetic clustered 256-d vectors, 1 faiss thread)", *ann_table()]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
