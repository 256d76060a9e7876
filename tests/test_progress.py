"""Issue 11: one progress helper (medsearch/progress.py) for indexing, bench embedding and training: a bar on a
terminal, periodic log lines (items, items/s, ETA) when stderr is not one."""

from __future__ import annotations

import io
import re

from test_bench_cli import _csv_archive
from test_harden_cli import FakeClock, run_cli

from medsearch.progress import LogProgress


def test_log_progress_takes_what_training_uses():
    stream, clock = io.StringIO(), FakeClock()
    with LogProgress(stream, interval=10, clock=clock, unit="pairs") as progress:
        task = progress.add_task("training", total=400, completed=100)  # resumed: 100 pairs done before
        for epoch in range(3):
            clock.now += 10
            progress.update(task, advance=100, description=f"epoch {epoch + 2}/4")
            progress.log(f"epoch {epoch + 2}: done")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "medsearch: epoch 2/4 200/400 pairs (50%), 10.0 pairs/s, ETA 20s"
    assert lines[1] == "epoch 2: done"
    assert lines[-2] == "medsearch: epoch 4/4 400/400 pairs (100%), 10.0 pairs/s, done in 30s"
    assert lines[-1] == "epoch 4: done"


def test_bench_embedding_logs_progress_lines_when_stderr_is_a_file(tmp_path):
    root = _csv_archive(tmp_path, ["one caption", "another caption", "a third"])
    result = run_cli("bench", "retrieval", "--manifest", "csv", "--root", str(root), "--model", "fake",
                     "--bootstrap", "5", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert re.search(r"^medsearch: embedding 3/3 items \(100%\), [\d.,]+ items/s, done in \d+s$", result.stderr,
                     re.MULTILINE), result.stderr
    assert "\r" not in result.stderr and "━" not in result.stderr
