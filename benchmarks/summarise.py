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


def best_at_target(sweep: list[dict], key: str, qps_key: str, target: float = 0.95) -> dict | None:
    """The fastest nprobe whose recall reaches the target."""
    ok = [row for row in sweep if row.get(key, 0) >= target]
    return max(ok, key=lambda row: row[qps_key]) if ok else None


def ann_table() -> list[str]:
    rows = []
    for name in ("ann.json",):
        data = load(name)
        for r in (data or {}).get("results", []):
            if any(row[0] == r["n"] for row in rows):
                continue
            pq = r["ivfpq"]
            exact_qps = r["exact"]["qps"]
            for label, key, qk in (("rescored", "recall_at_10_rescored", "qps_rescored"), ("raw PQ", "recall_at_10", "qps")):
                best = best_at_target(pq["sweep"], key, qk)
                top = max(pq["sweep"], key=lambda row: row[key])
                pick = best or top
                rows.append((r["n"], pq["factory"], label, pick["nprobe"], pick[key], pick[qk], exact_qps,
                             pick[qk] / exact_qps, pq["bytes_per_vector"], pq["build_s"], r["exact"]["build_s"],
                             best is not None))
    out = ["| vectors | factory | ranking | nprobe | recall@10 | queries/s | exact queries/s | speed-up | bytes/vector (index) | IVF-PQ build s | exact build s |",
           "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, f, label, nprobe, rec, qps, eqps, sp, bpv, bs, ebs, hit in sorted(rows, key=lambda r: (r[0], r[2])):
        mark = "" if hit else " (best; < 0.95)"
        out.append(f"| {n:,} | {f} | {label} | {nprobe} | {rec:.3f}{mark} | {qps:,.0f} | {eqps:,.0f} | {sp:.1f}x | {bpv:.1f} | {bs:.1f} | {ebs:.2f} |")
    return out


def main() -> None:
    lines = ["### ANN (synthetic clustered 256-d vectors, 1 faiss thread)", *ann_table()]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
