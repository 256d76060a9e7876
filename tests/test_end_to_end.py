"""The engine end to end through the CLI, on SQLite (the default store) and on PostgreSQL (--db URL):
index the bundled demo archive, re-run it, query by text, by PNG/JPEG and by DICOM, read `info`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dicom_factory import write_dicom
from medsearch.cli import app
from medsearch.errors import IndexMismatch

runner = CliRunner()
N_ITEMS = 40


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _dicom_from_image(image_path: Path, out: Path) -> Path:
    """A DICOM holding the grey pixels of an ordinary image, with patient tags that must never surface."""
    pixels = np.asarray(Image.open(image_path).convert("L"), dtype=np.uint8)
    return write_dicom(out, pixels, PatientName="Doe^Jane", PatientID="MRN-0001")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_args(request) -> list[str]:
    """No --db (meta.sqlite inside the index directory), or --db with a fresh PostgreSQL schema."""
    if request.param == "postgres":
        return ["--db", request.getfixturevalue("fresh_pg_url")]
    return []


def test_index_rerun_query_and_info(tmp_path, db_args):
    index = str(tmp_path / "idx")
    common = ["--index", index, "--model", "fake", "--workers", "0"]
    first = _invoke("index", "--manifest", "demo", "--limit", str(N_ITEMS), *common, *db_args)
    assert f"{N_ITEMS}" in first

    # a second run over the same archive embeds nothing new
    _invoke("index", "--manifest", "demo", "--limit", str(N_ITEMS), *common, *db_args)
    info = json.loads(_invoke("info", "--index", index, "--json"))
    assert info["counts"]["items"] == N_ITEMS
    assert {k: v["count"] for k, v in info["manifest"]["modalities"].items()} == {"image": N_ITEMS, "text": N_ITEMS}
    assert info["manifest"]["model_id"] == "fake-32"
    if db_args:
        assert info["manifest"]["db_url"].startswith("postgresql")
    else:
        assert (Path(index) / "meta.sqlite").exists()

    # text -> image, ranked, with paths and scores
    hits = json.loads(_invoke("query", "ultrasound of the liver", "--index", index, "--k", "5", "--json"))
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all(h["target"] == "image" and Path(h["image_path"]).exists() for h in hits)

    # image (JPEG) -> image finds the same figure first
    source = hits[0]
    same = json.loads(_invoke("query", "--image", source["image_path"], "--index", index, "--target", "images",
                              "--k", "3", "--json"))
    assert same[0]["key"] == source["key"] and same[0]["score"] == pytest.approx(1.0, abs=1e-4)

    # image (DICOM) -> reports by default, and -> images finds the figure it was made from
    dicom = _dicom_from_image(Path(source["image_path"]), tmp_path / "query.dcm")
    reports = json.loads(_invoke("query", "--image", str(dicom), "--index", index, "--k", "3", "--json"))
    assert len(reports) == 3 and all(r["target"] == "text" and r["text"] for r in reports)
    images = json.loads(_invoke("query", "--image", str(dicom), "--index", index, "--target", "images",
                                "--k", "1", "--json"))
    assert images[0]["key"] == source["key"]
    assert "Doe" not in json.dumps(reports + images) and "MRN-0001" not in json.dumps(reports + images)


def test_query_with_another_model_is_refused(tmp_path):
    index = str(tmp_path / "idx")
    _invoke("index", "--manifest", "demo", "--limit", "5", "--index", index, "--model", "fake", "--workers", "0")
    result = runner.invoke(app, ["query", "effusion", "--index", index, "--model", "medsearch-default"])
    # the CLI's main() turns this into exit code 6 and one line (tests/test_cli_query.py checks that part)
    assert isinstance(result.exception, IndexMismatch)
    assert "fake-32" in str(result.exception) and "medsearch-default" in str(result.exception)
