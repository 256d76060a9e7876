"""`medsearch query` and `medsearch info` over a tiny hand-built index (fake encoder)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from medsearch.cli import app

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real entry point (error translation included) in a fresh interpreter."""
    code = "import sys; from medsearch.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def query_json(index_dir, *args: str) -> list[dict]:
    result = runner.invoke(app, ["query", *args, "--index", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_output_parses_and_is_ranked(tiny_index):
    hits = query_json(tiny_index[0], "case17", "--target", "reports", "--no-ensemble", "--k", "4")
    assert [h["rank"] for h in hits] == [1, 2, 3, 4]
    assert hits[0]["key"] == "k017" and hits[0]["target"] == "text"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert set(hits[0]) >= {"item_id", "image_path", "text", "labels", "licence", "split", "modality", "extra"}


def test_table_output(tiny_index):
    result = runner.invoke(app, ["query", "Case17!", "--index", str(tiny_index[0]), "--target", "text", "--k", "2"])
    assert result.exit_code == 0, result.output
    assert "k017" in result.stdout and "images/img017.png" in result.stdout and "rank" in result.stdout
    assert "second line" not in result.stdout  # only the first line of the text
    assert "searched for: case17" in result.stdout  # the query as embedded, when it differs from the input
    plain = runner.invoke(app, ["query", "case17", "--index", str(tiny_index[0])])
    assert plain.exit_code == 0 and "searched for" not in plain.stdout


def test_filters_on_the_command_line(tiny_index):
    hits = query_json(tiny_index[0], "nodule", "--modality", "CT", "--label", "followup", "--licence", "CC BY*")
    assert hits, "the filter matches some items"
    for h in hits:
        assert h["modality"] == "CT" and "followup" in h["labels"] and h["licence"].startswith("CC BY")
    in_test = {it["key"] for i, it in enumerate(tiny_index[1]) if it["split"] == "test" and i not in (7, 50)}
    assert {h["key"] for h in query_json(tiny_index[0], "nodule", "--split", "test", "--k", "50")} == in_test


def test_image_query_defaults_to_reports_and_can_target_images(tiny_index):
    path = tiny_index[1][3]["image_path"]
    to_reports = query_json(tiny_index[0], "--image", path, "--k", "3")
    assert [h["target"] for h in to_reports] == ["text"] * 3
    to_images = query_json(tiny_index[0], "--image", path, "--target", "images", "--k", "3")
    assert to_images[0]["key"] == "k003" and to_images[0]["target"] == "image"


def test_no_expand_changes_the_query(tiny_index):
    expanded = query_json(tiny_index[0], "PE", "--target", "text", "--no-ensemble", "--k", "3")
    plain = query_json(tiny_index[0], "PE", "--target", "text", "--no-ensemble", "--no-expand", "--k", "3")
    assert all("pulmonary embolism" in h["text"] for h in expanded)
    assert [h["score"] for h in expanded] != [h["score"] for h in plain]


def test_model_mismatch_exit_code_and_one_line(tiny_index):
    result = run_cli("query", "nodule", "--index", str(tiny_index[0]), "--model", "medsearch-default")
    assert result.returncode == 6
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: model 'medsearch-default' has dimension 256, this index 32")
    assert "--model fake" in lines[0]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["query", "--index", "{index}"], 2, "error: give either a query text or --image PATH"),
        (["query", "x", "--index", "{index}", "--target", "videos"], 2, "error: unknown target 'videos'"),
        (["query", "x", "--index", "{missing}"], 5, "error: no index at"),
        (["info", "--index", "{missing}"], 5, "error: no index at"),
        # a teaching option without the flag it belongs to: refused before the index is opened (none here)
        (["query", "x", "--index", "{missing}", "--diagnosis", "pneumonia"], 2,
         "error: --diagnosis only goes with --different-diagnosis — add --different-diagnosis (with --image PATH), "
         "or leave --diagnosis out"),
    ],
)
def test_errors_exit_with_one_line(tiny_index, tmp_path, args, code, message):
    args = [a.format(index=tiny_index[0], missing=tmp_path / "none") for a in args]
    result = run_cli(*args)
    assert result.returncode == code
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1


def test_info_json_and_table(tiny_index):
    result = runner.invoke(app, ["info", "--index", str(tiny_index[0]), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["manifest"]["model_id"] == "fake-32" and info["counts"]["items"] == 118
    assert info["manifest"]["modalities"]["image"]["factory"] == "Flat"
    table = runner.invoke(app, ["info", "--index", str(tiny_index[0])], env={"COLUMNS": "150"})
    assert table.exit_code == 0, table.output
    for expected in ("fake-32", "Flat", "top labels", "followup (30)", "meta.sqlite", "total"):
        assert expected in table.stdout, expected


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom medsearch.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0 and 'query' in r.stdout\n"
        "r = CliRunner().invoke(app, ['query', '--help'])\nassert r.exit_code == 0 and '--no-expand' in r.stdout\n"
        "print(sorted(m for m in ('torch', 'faiss', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "name, image_query, available, expected",
    [
        (None, False, ("image", "text"), "image"),
        (None, True, ("image", "text"), "text"),
        (None, False, ("text",), "text"),  # a report-only index answers text queries with reports
        (None, True, ("image",), "image"),
        ("reports", False, ("image", "text"), "text"),
        ("Images", True, ("image", "text"), "image"),
    ],
)
def test_resolve_target(name, image_query, available, expected):
    from medsearch.commands.query import resolve_target

    assert resolve_target(name, image_query, available) == expected


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory):
    """60 demo figures indexed by the real indexer (`medsearch index`) with the fake encoder."""
    index_dir = tmp_path_factory.mktemp("demo") / "index"
    args = ["index", "--manifest", "demo", "--index", str(index_dir), "--model", "fake", "--workers", "0", "--limit", "60"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return index_dir


def test_query_an_index_built_by_the_indexer(demo_index):
    hits = query_json(demo_index, "pulmonary angiography", "--target", "reports", "--k", "5")
    assert len(hits) == 5 and [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(h["key"].startswith("ROCO_") and h["licence"] == "CC BY" for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    first = hits[0]
    everything = query_json(demo_index, "x", "--target", "text", "--k", "100")
    assert len({h["key"] for h in everything}) == 60  # every indexed item reachable, none twice
    image_hits = query_json(demo_index, "--image", first["image_path"], "--target", "images", "--k", "1")
    assert image_hits[0]["key"] == first["key"] and image_hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    info = json.loads(runner.invoke(app, ["info", "--index", str(demo_index), "--json"]).stdout)
    assert info["counts"]["items"] == 60 and info["manifest"]["model_id"] == "fake-32"
