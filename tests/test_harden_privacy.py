"""Issue 8, privacy: keyed patient hashes with a per-deployment secret (never a public default), DICOM item keys
that are not file paths, paths shown only when asked."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from typer.testing import CliRunner

from medsearch import privacy
from medsearch.archives import open_archive
from medsearch.cli import app
from medsearch.models.fake import FakeEncoder
from medsearch.privacy import SALT_ENV, SECRET_FILE_ENV, patient_key
from dicom_factory import write_dicom

from indexer.pipeline import IndexOptions, build_index


@pytest.fixture
def no_salt(monkeypatch, tmp_path):
    """No MEDSEARCH_PATIENT_SALT; the generated secret goes to a fresh config folder."""
    monkeypatch.delenv(SALT_ENV, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(privacy, "_generated", {})
    return tmp_path / "config" / "medsearch" / "patient-salt"


def test_without_a_salt_a_secret_is_generated_once_outside_the_index(no_salt, capsys):
    key = patient_key("12345")
    assert no_salt.is_file() and stat.S_IMODE(os.stat(no_salt).st_mode) == 0o600
    assert len(no_salt.read_text().strip()) == 64
    warning = capsys.readouterr().err
    assert "generated a patient-hash secret" in warning and SALT_ENV in warning
    assert patient_key("12345") == key and capsys.readouterr().err == ""  # warned once
    privacy._generated.clear()
    assert patient_key("12345") == key and capsys.readouterr().err == ""  # read back, not regenerated


def test_the_public_default_salt_no_longer_recovers_an_id(no_salt):
    """The old scheme: sha256("medsearch-default-salt\\0" + id)[:16]; a short PatientID was brute-forced from it."""
    key = patient_key("12345")
    public = {hashlib.sha256(f"medsearch-default-salt\x00{i}".encode()).hexdigest()[:16] for i in range(100_000)}
    assert key not in public
    assert not hasattr(privacy, "_DEFAULT_SALT")


def test_the_env_secret_is_a_keyed_hash(monkeypatch, no_salt):
    import hmac

    monkeypatch.setenv(SALT_ENV, "site-secret")
    assert patient_key("MRN-1") == hmac.new(b"site-secret", b"MRN-1", hashlib.sha256).hexdigest()[:16]
    assert not no_salt.exists()  # nothing generated when the deployment gives its secret


def test_an_unwritable_secret_location_is_one_clear_error(monkeypatch, tmp_path):
    from medsearch.errors import SecretUnavailable

    monkeypatch.delenv(SALT_ENV, raising=False)
    monkeypatch.setattr(privacy, "_generated", {})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(SECRET_FILE_ENV, str(blocker / "sub" / "salt"))
    with pytest.raises(SecretUnavailable, match="cannot read or create") as caught:
        patient_key("1")
    assert SALT_ENV in caught.value.one_line()


@pytest.fixture
def phi_folder(tmp_path):
    """A DICOM folder whose sub-folder is named after the patient, as PACS exports often are."""
    root = tmp_path / "dcm"
    import numpy as np

    (root / "DOE^JOHN_105534").mkdir(parents=True)
    pixels = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint8)
    write_dicom(root / "DOE^JOHN_105534" / "IM0001", pixels, PatientName="Doe^John", PatientID="105534",
                Modality="CT")
    return root


def test_dicom_keys_and_shown_paths_carry_no_patient_name(phi_folder, tmp_path):
    items = list(open_archive("dicom-folder", phi_folder).items())
    assert len(items) == 1
    item = items[0]
    assert item.key.startswith("dcm-") and "DOE" not in json.dumps([item.key, item.extra])
    build_index(open_archive("dicom-folder", phi_folder), tmp_path / "idx", FakeEncoder(),
                IndexOptions(workers=0, progress=False))
    runner = CliRunner(env={"COLUMNS": "200"})
    default = runner.invoke(app, ["query", "chest", "--index", str(tmp_path / "idx"), "--model", "fake",
                                  "--target", "images", "--json"])
    assert default.exit_code == 0, default.output
    assert "DOE" not in default.output and json.loads(default.output)[0]["image_path"] is None
    table = runner.invoke(app, ["query", "chest", "--index", str(tmp_path / "idx"), "--model", "fake",
                                "--target", "images"])
    assert table.exit_code == 0 and "DOE" not in table.output
    asked = runner.invoke(app, ["query", "chest", "--index", str(tmp_path / "idx"), "--model", "fake",
                                "--target", "images", "--json", "--show-paths"])
    assert "DOE^JOHN_105534/IM0001" in json.loads(asked.output)[0]["image_path"]


def test_the_page_api_shows_no_dicom_path(phi_folder, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from medsearch.search import open_index
    from medsearch.serve.app import create_app

    build_index(open_archive("dicom-folder", phi_folder), tmp_path / "idx", FakeEncoder(),
                IndexOptions(workers=0, progress=False))
    with TestClient(create_app(lambda: open_index(tmp_path / "idx", model="fake"))) as client:
        hits = client.get("/api/search", params={"q": "chest"}).json()["results"]
        detail = client.get(f"/api/items/{hits[0]['item_id']}").json()
    assert "DOE" not in json.dumps(hits) and "DOE" not in json.dumps(detail)


def test_skip_reports_do_not_name_dicom_paths_unless_asked(tmp_path, capsys):
    """A corrupt file in a folder named after the patient: the summary and skipped.jsonl name it by its key;
    `--show-paths` names the file (and stores its path for results)."""
    from medsearch.cli import main

    root = tmp_path / "dcm"
    (root / "DOE^JOHN_105534").mkdir(parents=True)
    (root / "DOE^JOHN_105534" / "IM0002").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")  # a broken header
    for flag, shown in (([], False), (["--show-paths"], True)):
        index_dir = tmp_path / f"idx{len(flag)}"
        with pytest.raises(SystemExit):  # nothing indexable: exit 10
            main(["index", "--manifest", "dicom-folder", "--root", str(root), "--index", str(index_dir),
                  "--model", "fake", "--workers", "0", *flag])
        output = capsys.readouterr()
        text = output.out + output.err + (index_dir / "skipped.jsonl").read_text()
        assert ("DOE" in text) == shown, text
