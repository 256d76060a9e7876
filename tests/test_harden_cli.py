"""Issue 8, item 17: --version, --db everywhere (bench's --db-url kept hidden), `medsearch models` at 80 columns,
progress as periodic log lines when stderr is not a terminal, docs that cite repo-relative paths."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from medsearch.cli import app
from medsearch.progress import LogProgress, progress_display

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    code = "import sys; from medsearch.cli import main; main(sys.argv[1:])"
    env = {"COLUMNS": str(columns), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "MEDSEARCH_PATIENT_SALT": os.environ["MEDSEARCH_PATIENT_SALT"]}  # set by conftest: no secret generated
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


def test_version():
    import medsearch

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"medsearch {medsearch.__version__}"


def test_every_command_that_opens_a_database_takes_db():
    commands = [[c.name] for c in app.registered_commands]
    for group in app.registered_groups:
        commands += [[group.name, c.name] for c in group.typer_instance.registered_commands]
    checked = []
    for command in commands:
        help_text = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
        if "database" in help_text.lower() or "--db" in help_text:
            assert re.search(r"--db\b(?!-)", help_text), command
            checked.append(command[-1])
    assert {"index", "query", "info", "serve", "phrasing"} <= set(checked)
    assert "--db-url" not in CliRunner().invoke(app, ["bench", "phrasing", "--help"]).output  # hidden alias


def test_bench_phrasing_still_accepts_db_url(tiny_index, tmp_path):
    index_dir, _ = tiny_index
    groups = tmp_path / "groups.json"
    groups.write_text('{"groups": [{"id": "fx", "queries": ["fracture", "broken bone"]}]}')
    for flag in ("--db", "--db-url"):
        result = CliRunner().invoke(app, ["bench", "phrasing", "--index", str(index_dir), "--groups", str(groups),
                                          "--k", "3", flag, f"sqlite:///{index_dir / 'meta.sqlite'}",
                                          "--out", str(tmp_path / flag.strip("-"))])
        assert result.exit_code == 0, (flag, result.output)


def test_models_is_readable_at_80_columns():
    result = run_cli("models", columns=80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in result.stdout
    for name in ("medsearch-default", "biomedclip", "fake", "hf-hub:ORG/NAME", "open_clip:ARCH@CKPT"):
        assert any(line.startswith(name) or line.strip().startswith(name) for line in lines), name


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_progress_writes_periodic_lines_with_rate_and_eta():
    stream, clock = io.StringIO(), FakeClock()
    with LogProgress(stream, interval=10, clock=clock) as progress:
        task = progress.add_task("embedding", total=1000)
        for _ in range(25):  # 40 items a second for 25 s
            clock.now += 1
            progress.advance(task, 40)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "medsearch: embedding 400/1,000 items (40%), 40.0 items/s, ETA 15s"
    assert lines[1] == "medsearch: embedding 800/1,000 items (80%), 40.0 items/s, ETA 5s"
    assert lines[-1] == "medsearch: embedding 1,000/1,000 items (100%), 40.0 items/s, done in 25s"
    assert len(lines) == 3


def test_a_non_terminal_stderr_gets_log_lines_and_a_terminal_the_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(progress_display(True, io.StringIO()), LogProgress)
    assert not isinstance(progress_display(True, Tty()), LogProgress)
    assert not isinstance(progress_display(False, io.StringIO()), LogProgress)


def test_index_run_logs_progress_lines_when_stderr_is_a_file(tmp_path):
    from test_harden_paths import good_rows, make_csv_archive, manifest_file

    root = make_csv_archive(tmp_path / "mine", good_rows())
    result = run_cli("index", "--manifest", str(manifest_file(tmp_path)), "--root", str(root),
                     "--index", str(tmp_path / "idx"), "--model", "fake", "--workers", "0")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^medsearch: embedding 3/3 items \(100%\), [\d.,]+ items/s, done in \d+s$", result.stderr,
                     re.MULTILINE), result.stderr
    assert "\r" not in result.stderr and "━" not in result.stderr  # no redrawn bar in a log


def test_docs_cite_repo_relative_paths():
    for doc in ("README.md", "benchmarks/README.md", "data_manifests/README.md"):
        text = (REPO / doc).read_text()
        assert "/work/" not in text, doc


def test_manifest_docs_say_images_must_lie_under_the_root():
    text = (REPO / "data_manifests/README.md").read_text()
    assert "under the root" in text and "outside the archive root" in text
