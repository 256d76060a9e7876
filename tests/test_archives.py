"""Archives: manifests, readers, skipped rows, the bundled demo. Tiny fixtures are written into tmp_path."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from medsearch.archives import Skipped, list_archives, load_manifest, open_archive
from medsearch.archives.manifest import BUILTIN_DIR, builtin_manifest_paths
from medsearch.archives.modality import guess_modality
from medsearch.archives.registry import READERS, reader_class
from medsearch.errors import BadArchive, UnknownManifest, UnknownName
from medsearch.privacy import patient_key

REPO = Path(__file__).resolve().parents[1]
ROCO_COLUMNS = ["roco_id", "image", "pmc_id", "caption", "keywords", "semtypes", "cuis", "license",
                "orig_width", "orig_height", "split"]


def write_image(path: Path, shade: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), shade).save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def roco_row(roco_id: str, image: str, caption: str, split="train", licence="CC BY") -> list[str]:
    return [roco_id, image, "PMC1", caption, "kw", "T047:Disease or Syndrome", "C0001;C0002", licence, "512", "512", split]


@pytest.fixture
def tiny_roco(tmp_path: Path) -> Path:
    root = tmp_path / "roco"
    write_image(root / "images" / "a.jpg")
    write_image(root / "images" / "b.jpg")
    write_csv(root / "captions.csv", ROCO_COLUMNS, [
        roco_row("R1", "images/a.jpg", "Axial CT shows a mass.\nSecond line of the caption.", "train"),
        roco_row("R2", "images/missing.jpg", "MRI of the knee", "val"),  # line 4 (R1 spans lines 2-3)
        roco_row("R3", "", "", "test"),  # empty caption and no image: line 5
        ["R4", "images/b.jpg", "too", "few"],  # unparsable: line 6
        roco_row("R5", "images/b.jpg", "", "test", "CC0"),  # image only: fine, line 7
        roco_row("R1", "images/b.jpg", "duplicate key", "train"),  # line 8
        roco_row("R6", "../outside.jpg", "escapes the root", "train"),  # line 9
    ])
    with open(root / "captions.csv", "a", encoding="utf-8") as f:
        f.write('R7,images/a.jpg,PMC1,"bad"quoting,,,,CC BY,1,1,train\n')  # bad quoting: line 10
    return root


# -- real data ----------------------------------------------------------------------------------------------------

def test_roco_real_archive_counts_splits_licences_labels(shared_data: Path):
    archive = open_archive("roco", shared_data / "roco")
    assert archive.size_hint() == 4414
    items = list(archive.items())
    assert len(items) == 4414
    assert archive.skipped == []
    assert Counter(i.split for i in items) == {"train": 3288, "val": 398, "test": 728}
    licences = Counter(i.licence for i in items)
    assert licences["CC BY"] == 1933 and licences["NO-CC CODE"] == 592 and licences["CC0"] == 4
    first = items[0]
    assert first.key == "ROCO_78739"
    assert first.labels[:3] == ["C0042070", "C0022646", "C0008519"]
    assert "T046:Pathologic Function" in first.labels
    assert first.image_path.is_absolute() and first.image_path.is_file()
    assert first.extra["image_relpath"] == "images/PMC107839_1471-2296-3-6-3.jpg"
    assert first.extra["pmc_id"] == "PMC107839"
    # the truncated JPEG is yielded: readers do not decode, the indexer records decode failures
    assert any(i.image_path.name == "PMC4885136_gr1.jpg" for i in items)


def test_iu_xray_real_reports_are_text_only_items(shared_data: Path):
    archive = open_archive("iu-xray", shared_data / "iu-xray-reports")
    items = list(archive.items())
    assert len(items) + len(archive.skipped) == 3851
    assert all(i.image_path is None and i.text for i in items)
    assert all(s.reason.startswith("empty text and image file not found") for s in archive.skipped)
    second = next(i for i in items if i.key == "2")
    assert second.labels[:2] == ["Cardiomegaly", "Pulmonary Artery"]
    assert "Cardiomegaly/borderline" in second.labels
    assert second.patient == patient_key("2")


def test_iu_xray_r2gen_real_splits_with_four_space_key(shared_data: Path):
    archive = open_archive("iu-xray-r2gen", shared_data / "iu-xray-reports" / "annotation_r2gen.json")
    items = list(archive.items())
    assert Counter(i.split for i in items) == {"train": 2069, "val": 296, "test": 590}
    assert archive.skipped == []


def test_medicat_real_sample(shared_data: Path):
    items = list(open_archive("medicat", shared_data / "medicat-sample").items())
    assert len(items) == 10
    assert Counter(i.licence for i in items) == {"cc-by-nc-nd": 6, None: 2, "cc-by-nc": 2}
    assert all(i.image_path.is_file() for i in items)


# -- the bundled demo ---------------------------------------------------------------------------------------------

def test_demo_opens_without_root_and_is_redistributable():
    archive = open_archive("demo")
    items = list(archive.items())
    assert len(items) == 300
    assert archive.skipped == []
    assert {i.licence for i in items} <= {"CC BY", "CC0"}
    assert Counter(i.split for i in items) == {"train": 200, "val": 40, "test": 60}
    assert all(i.image_path.is_file() for i in items)
    assert len({i.modality for i in items}) >= 6
    demo = archive.root
    with open(demo / "ATTRIBUTION.csv", encoding="utf-8") as f:
        attribution = {row["roco_id"]: row for row in csv.DictReader(f)}
    assert set(attribution) == {i.key for i in items}
    one = items[0]
    assert attribution[one.key]["source_url"] == f"https://www.ncbi.nlm.nih.gov/pmc/articles/{one.extra['pmc_id']}/"
    assert sum(p.stat().st_size for p in (demo / "images").iterdir()) < 8_000_000
    assert "ROCO" in (demo / "NOTICE.md").read_text()


def test_build_demo_is_deterministic_and_licence_filtered(tmp_path: Path, tiny_roco: Path):
    from medsearch.archives import build_demo

    with open(tiny_roco / "captions.csv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["image"] and r["roco_id"] != "R4"]
    rows += [dict(rows[0], roco_id="NC", license="CC BY-NC", caption="Axial CT of a non-commercial figure.")]
    picked = build_demo.candidates(tiny_roco, rows)
    # only CC BY/CC0 rows with a decodable image and a caption of 30+ characters that is not repeated
    assert [r["roco_id"] for r in picked] == ["R1"]
    sample = build_demo.stratified_sample(picked, {"train": 5})
    assert [r["roco_id"] for r in sample] == ["R1"]
    build_demo.write_demo(tiny_roco, tmp_path / "demo", sample, ROCO_COLUMNS)
    rebuilt = list(open_archive("roco", tmp_path / "demo").items())
    assert [i.key for i in rebuilt] == ["R1"]


# -- broken rows and broken archives ------------------------------------------------------------------------------

def test_broken_rows_are_skipped_with_line_and_reason(tiny_roco: Path):
    archive = open_archive("roco", tiny_roco)
    assert archive.size_hint() == 6  # parsable rows, before skipping
    items = list(archive.items())
    assert [i.key for i in items] == ["R1", "R5"]
    assert archive.skipped == [
        Skipped("captions.csv:4", "image file not found: images/missing.jpg", "read"),
        Skipped("captions.csv:5", "empty text and no image", "read"),
        Skipped("captions.csv:6", "unparsable row: 4 fields, header has 11", "read"),
        Skipped("R1", "duplicate id", "read"),
        Skipped("captions.csv:9", "image path outside the archive root: ../outside.jpg", "read"),
        Skipped("captions.csv:10", "unparsable row: ',' expected after '\"'", "read"),
    ]
    r1, r5 = items
    assert r1.text == "Axial CT shows a mass.\nSecond line of the caption."
    assert r1.modality == "CT"
    assert r1.labels == ["C0001", "C0002", "T047:Disease or Syndrome"]
    assert r5.text is None and r5.licence == "CC0"
    # a second pass starts a fresh skipped list
    list(archive.items())
    assert len(archive.skipped) == 6


def test_missing_root_raises_bad_archive_with_hint(tmp_path: Path):
    with pytest.raises(BadArchive) as info:
        open_archive("roco", tmp_path / "nowhere")
    assert "archive root not found" in str(info.value)
    assert "captions.csv" in info.value.hint


def test_missing_table_raises_bad_archive(tmp_path: Path):
    with pytest.raises(BadArchive, match="captions.csv not found") as info:
        open_archive("roco", tmp_path)
    assert "--root" in info.value.hint


def test_missing_columns_raise_bad_archive_naming_them(tmp_path: Path):
    write_csv(tmp_path / "captions.csv", ["roco_id", "image", "caption"], [["R1", "a.jpg", "x"]])
    with pytest.raises(BadArchive, match="lacks column") as info:
        open_archive("roco", tmp_path)
    assert "split" in str(info.value) and "license" in str(info.value)
    assert "roco_id, image, caption" in info.value.hint


@pytest.mark.parametrize("toml, message", [
    ('name = "t"\nreader = "csv"\nmising_image = "skip"\n', "unknown key\\(s\\) mising_image"),
    ('name = "t"\nreader = "csv"\n[fields]\nlicense = "lic"\n', "unknown field\\(s\\) license"),
    ('name = "t"\nreader = "csv"\n[fields]\nid = 3\n', "field\\(s\\) id must be"),
    ('name = "t"\nreader = "csv"\n[fields]\nid = "id"\nextra = "x"\n', "field\\(s\\) extra must be"),
    ('name = "t"\nreader = "csv"\nmissing_image = "keep"\n', "missing_image = 'keep'"),
    ('name = "t"\n', "missing 'reader'"),
    ('name = "t\n', "not valid TOML"),
    ('name = "t"\nreader = "csv"\n[fields]\ntext = "x"\n', "has no id field"),
])
def test_bad_manifests_are_reported(tmp_path: Path, toml: str, message: str):
    manifest = tmp_path / "bad.toml"
    manifest.write_text(toml)
    write_csv(tmp_path / "items.csv", ["id", "x"], [["1", "a"]])
    with pytest.raises(BadArchive, match=message):
        open_archive(manifest, tmp_path / "items.csv")


def test_roco_needs_a_root():
    with pytest.raises(BadArchive, match="needs a root folder"):
        open_archive("roco")


# -- names, registry, manifests -----------------------------------------------------------------------------------

def test_unknown_manifest_lists_valid_names():
    with pytest.raises(UnknownManifest) as info:
        open_archive("rocco")
    assert info.value.valid == sorted(builtin_manifest_paths())
    assert "roco" in info.value.hint and "demo" in info.value.hint and "mimic-cxr" in info.value.hint


def test_unknown_reader_lists_valid_readers(tmp_path: Path):
    manifest = tmp_path / "bad.toml"
    manifest.write_text('name = "bad"\nreader = "xml"\n')
    with pytest.raises(UnknownName) as info:
        open_archive(manifest, tmp_path)
    assert info.value.kind == "reader"
    assert set(info.value.valid) == set(READERS)


def test_builtin_manifests_parse_and_are_linked_from_data_manifests():
    names = [a.name for a in list_archives()]
    assert {"roco", "demo", "iu-xray", "iu-xray-r2gen", "covid-chestxray", "mimic-cxr", "dicom-folder",
            "medicat", "csv", "jsonl"} <= set(names)
    for name, path in builtin_manifest_paths().items():
        manifest = load_manifest(path)
        assert manifest.name == name
        assert manifest.reader in READERS
        linked = REPO / "data_manifests" / f"{name}.toml"
        assert linked.resolve() == (BUILTIN_DIR / f"{name}.toml").resolve()


@pytest.mark.parametrize("name", sorted(READERS))
def test_registered_readers_import(name: str):
    from medsearch.archives.reader import Reader

    assert issubclass(reader_class(name), Reader)


def test_importing_archives_stays_light():
    code = "import sys, medsearch.archives; print(sorted(m for m in ('torch','faiss','sqlalchemy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- generic and user manifests -----------------------------------------------------------------------------------

def test_user_csv_manifest_example_end_to_end(tmp_path: Path):
    root = tmp_path / "mine"
    write_image(root / "png" / "f1.png")
    write_csv(root / "figures.csv", ["figure_id", "file", "title", "description", "mrn", "set", "body_part", "findings"], [
        ["F1", "f1.png", "Chest radiograph", "Right lower lobe opacity.", "MRN-77", "validation", "chest", "pneumonia|effusion"],
        ["F2", "", "Axial CT of the head", "", "", "train", "head", ""],
    ])
    archive = open_archive(REPO / "data_manifests" / "examples" / "my-figures.toml", root)
    f1, f2 = list(archive.items())
    assert archive.name == "my-figures" and archive.skipped == []
    assert f1.image_path == root / "png" / "f1.png"
    assert f1.extra == {"image_relpath": "png/f1.png", "body_part": "chest"}
    assert f1.text == "Chest radiograph\nRight lower lobe opacity."
    assert f1.labels == ["pneumonia", "effusion"]
    assert f1.patient == patient_key("MRN-77") and "MRN-77" not in repr(f1)
    assert (f1.split, f1.licence, f1.modality) == ("val", "internal use only", "XR")
    assert f2.image_path is None and f2.modality == "CT" and f2.patient is None


def test_generic_csv_accepts_the_file_as_root_and_optional_columns(tmp_path: Path):
    write_image(tmp_path / "x.png")
    table = write_csv(tmp_path / "mine.csv", ["id", "image", "text"], [["1", "x.png", "a note"], ["2", "", "text only"]])
    items = list(open_archive("csv", table).items())
    assert [(i.key, i.text, i.labels, i.split) for i in items] == [("1", "a note", [], None), ("2", "text only", [], None)]
    assert items[0].image_path == tmp_path / "x.png"


def test_generic_jsonl_with_list_labels_and_a_bad_line(tmp_path: Path):
    lines = [
        json.dumps({"id": "a", "text": "pleural effusion", "labels": ["effusion", "left"], "licence": "CC BY"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "b", "text": "", "image": None}),
    ]
    (tmp_path / "items.jsonl").write_text("\n".join(lines) + "\n")
    archive = open_archive("jsonl", tmp_path)
    items = list(archive.items())
    assert [(i.key, i.labels, i.licence) for i in items] == [("a", ["effusion", "left"], "CC BY")]
    assert [(s.where, s.reason.split(":")[0]) for s in archive.skipped] == [
        ("items.jsonl:2", "unparsable row"), ("items.jsonl:3", "unparsable row"), ("items.jsonl:4", "empty text and no image")]


# -- layouts tested on tiny fixtures ------------------------------------------------------------------------------

def test_iu_xray_item_has_image_text_or_both(tmp_path: Path):
    write_csv(tmp_path / "indiana_reports.csv",
              ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"], [
                  ["1", "normal", "normal", "PA and lateral", "cough", "None.", "Clear lungs.", "Normal."],
                  ["2", "Effusion/left", "Effusion", "PA", "", "", "Left effusion.", ""],
                  ["3", "normal", "normal", "PA", "", "", "", ""],
              ])
    write_csv(tmp_path / "indiana_projections.csv", ["uid", "filename", "projection"], [
        ["1", "1_lat.png", "Lateral"], ["1", "1_front.png", "Frontal"], ["2", "2_front.png", "Frontal"],
        ["3", "3_front.png", "Frontal"],
    ])
    images = tmp_path / "images" / "images_normalized"
    write_image(images / "1_lat.png")
    write_image(images / "1_front.png")
    write_image(images / "3_front.png")
    items = {i.key: i for i in open_archive("iu-xray", tmp_path).items()}
    assert items["1"].image_path == images / "1_front.png" and items["1"].text == "Clear lungs.\nNormal."
    assert items["1"].extra["projection"] == "Frontal"
    assert items["2"].image_path is None and items["2"].labels == ["Effusion", "Effusion/left"]
    assert items["3"].image_path == images / "3_front.png" and items["3"].text is None


def test_r2gen_four_space_test_key_and_entry_split(tmp_path: Path):
    annotation = {
        "train": [{"id": "CXR1_IM-1", "report": "Normal heart.", "image_path": ["CXR1_IM-1/0.png"], "split": "train"}],
        "val": [{"id": "CXR2_IM-2", "report": "Small effusion.", "image_path": ["CXR2_IM-2/0.png"]}],
        "    ": [{"id": "CXR3_IM-3", "report": "No acute disease.", "image_path": ["CXR3_IM-3/0.png"]},
                 "not an entry"],
    }
    (tmp_path / "annotation.json").write_text(json.dumps(annotation))
    write_image(tmp_path / "images" / "CXR1_IM-1" / "0.png")
    archive = open_archive("iu-xray-r2gen", tmp_path)
    assert archive.size_hint() == 4
    items = {i.key: i for i in archive.items()}
    assert {k: i.split for k, i in items.items()} == {"CXR1_IM-1": "train", "CXR2_IM-2": "val", "CXR3_IM-3": "test"}
    assert items["CXR1_IM-1"].image_path == tmp_path / "images" / "CXR1_IM-1" / "0.png"
    assert items["CXR3_IM-3"].image_path is None and items["CXR3_IM-3"].text == "No acute disease."
    assert archive.skipped == [Skipped("annotation.json:'    '[1]", "unparsable entry: a JSON str, not an object")]


COVID_COLUMNS = ["patientid", "offset", "sex", "age", "finding", "RT_PCR_positive", "survival", "view", "modality",
                 "date", "location", "folder", "filename", "doi", "url", "license", "clinical_notes", "other_notes"]


def test_covid_chestxray_layout(tmp_path: Path):
    def row(pid, finding, folder, filename, licence, notes, modality="X-ray", view="PA"):
        return [pid, "0", "M", "65", finding, "Y", "", view, modality, "2020", "Italy", folder, filename,
                "10.1/x", "https://example.org", licence, notes, ""]

    write_image(tmp_path / "images" / "p1.jpg")
    write_image(tmp_path / "volumes" / "ct1.jpg")
    write_csv(tmp_path / "metadata.csv", COVID_COLUMNS, [
        row("2", "Pneumonia/Viral/COVID-19", "images", "p1.jpg", "CC BY-NC-SA", "Fever and cough."),
        row("2", "Pneumonia/Viral/COVID-19", "volumes", "ct1.jpg", "Apache 2.0", "", "CT", "Axial"),
        row("3", "No Finding", "images", "absent.jpg", "CC BY", "Healthy."),
    ])
    archive = open_archive("covid-chestxray", tmp_path)
    xray, ct = list(archive.items())
    assert xray.key == "images/p1.jpg" and xray.labels == ["Pneumonia", "Viral", "COVID-19"]
    assert xray.patient == ct.patient == patient_key("2")
    assert (xray.licence, xray.modality, xray.text) == ("CC BY-NC-SA", "XR", "Fever and cough.")
    assert xray.extra["view"] == "PA" and xray.extra["age"] == "65"
    assert (ct.modality, ct.licence, ct.text) == ("CT", "Apache 2.0", None)
    assert archive.skipped == [Skipped("metadata.csv:4", "image file not found: images/absent.jpg", "read")]


def _gz_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with gzip.open(path, "wt", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_mimic_cxr_layout(tmp_path: Path):
    study = tmp_path / "files" / "p10" / "p10000032" / "s50414267"
    write_image(study / "d1.jpg")
    write_image(study / "d2.jpg")
    (tmp_path / "files" / "p10" / "p10000032" / "s50414267.txt").write_text(
        "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n\n"
        " INDICATION:  cough\n\n FINDINGS: \n\n There is a small left\n pleural effusion.\n\n"
        " IMPRESSION: \n\n Small left effusion.\n"
    )
    _gz_csv(tmp_path / "mimic-cxr-2.0.0-metadata.csv.gz", ["dicom_id", "subject_id", "study_id", "ViewPosition"], [
        ["d1", "10000032", "50414267", "PA"], ["d2", "10000032", "50414267", "LATERAL"],
        ["d3", "10000032", "50414267", "AP"],  # image not downloaded
    ])
    write_csv(tmp_path / "mimic-cxr-2.0.0-split.csv", ["dicom_id", "study_id", "subject_id", "split"], [
        ["d1", "50414267", "10000032", "validate"], ["d2", "50414267", "10000032", "validate"],
    ])
    write_csv(tmp_path / "mimic-cxr-2.0.0-chexpert.csv",
              ["subject_id", "study_id", "Atelectasis", "Pleural Effusion", "Pneumonia", "No Finding"],
              [["10000032", "50414267", "", "1.0", "-1.0", "0.0"]])
    archive = open_archive("mimic-cxr", tmp_path)
    d1, d2 = list(archive.items())
    assert d1.key == "d1" and d1.image_path == study / "d1.jpg"
    assert d1.extra["image_relpath"] == "files/p10/p10000032/s50414267/d1.jpg"
    assert d1.text == "There is a small left pleural effusion.\nSmall left effusion."
    assert d1.labels == ["Pleural Effusion"]
    assert (d1.split, d1.modality, d1.patient) == ("val", "XR", patient_key("10000032"))
    assert d1.licence.startswith("PhysioNet") and d2.extra["ViewPosition"] == "LATERAL"
    assert archive.skipped == [
        Skipped("mimic-cxr-2.0.0-metadata.csv.gz:4", "image file not found: files/p10/p10000032/s50414267/d3.jpg")]


@pytest.mark.parametrize("caption, modality", [
    ("Contrast-enhanced CT of the abdomen", "CT"),
    ("PET/CT shows FDG uptake", "PT"),
    ("Sagittal T2-weighted image of the spine", "MR"),
    ("Chest radiograph, PA view", "XR"),
    ("Transabdominal ultrasound of the gallbladder", "US"),
    ("Photograph of the excised specimen", None),
])
def test_guess_modality(caption: str, modality: str | None):
    assert guess_modality(caption) == modality
