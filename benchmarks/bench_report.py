"""A benchmark's JSON report: printed, and written to --out when given (imported by sibling scripts:
``from bench_report import write_report``)."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(report: dict, out: Path | None) -> None:
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")
