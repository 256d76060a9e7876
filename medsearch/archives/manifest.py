"""The manifest: a small TOML file that says where an archive's images and texts are and which fields hold what.

The format is documented in data_manifests/README.md. Built-in manifests live in
``medsearch/archives/manifests/`` (shipped in the wheel); data_manifests/ links to them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from medsearch.archives.paths import resolve_root
from medsearch.errors import BadArchive

BUILTIN_DIR = Path(__file__).resolve().parent / "manifests"
PACKAGE_ROOT_PREFIX = "medsearch:"  # default_root = "medsearch:data/demo" means a folder inside the package
MISSING_IMAGE_POLICIES = ("skip", "text-only")


@dataclass(frozen=True)
class LabelSource:
    """One field that holds labels, split on ``separator`` (empty separator: the whole value is one label)."""

    field: str
    separator: str = ";"
    prefix: str = ""


@dataclass(frozen=True)
class Manifest:
    name: str
    reader: str
    description: str = ""
    default_root: str | None = None
    source: dict = field(default_factory=dict)  # reader-specific: table file, images folder, ...
    fields: dict = field(default_factory=dict)  # id, image, text, patient, split, licence, modality, case, extra
    labels: tuple[LabelSource, ...] = ()
    split_map: dict = field(default_factory=dict)  # raw split value -> canonical name ("validate" -> "val")
    licence: str | None = None  # licence of every item when no licence field says otherwise
    modality: str | None = None  # modality of every item when no modality field says otherwise
    guess_modality: bool = False  # derive a coarse modality from the text when no field gives one
    missing_image: str = "skip"  # "skip": record the row as Skipped; "text-only": keep the text
    optional_columns: tuple[str, ...] = ()  # columns that may be absent from the table (read as empty)
    path: Path | None = None  # the .toml file it came from
    text: str = ""  # the TOML source, stored with an index so a run can be reproduced

    def resolve_root(self, root: str | Path | None) -> Path:
        """The archive root: the given one, else the manifest's default_root, else an error with a hint."""
        if root is not None:
            return resolve_root(root)
        if self.default_root is None:
            raise BadArchive(
                f"archive {self.name!r} needs a root folder",
                hint=f"pass root=... (CLI: --root DIR) pointing at the folder that holds {self.layout_hint()}",
            )
        if self.default_root.startswith(PACKAGE_ROOT_PREFIX):
            relative = self.default_root[len(PACKAGE_ROOT_PREFIX):]
            return resolve_root(str(resources.files("medsearch").joinpath(relative)))
        base = self.path.parent if self.path is not None else Path.cwd()
        return resolve_root(base / self.default_root)

    def layout_hint(self) -> str:
        files = [v for k, v in sorted(self.source.items()) if isinstance(v, str) and k != "images"]
        return ", ".join(files) if files else "the archive files"


FIELD_KEYS = ("id", "image", "text", "patient", "split", "licence", "modality", "case", "extra")

_TOP_KEYS = {
    "name", "reader", "description", "default_root", "source", "fields", "labels", "split_map",
    "licence", "modality", "guess_modality", "missing_image", "optional_columns",
}


def parse_manifest(text: str, path: Path | None = None) -> Manifest:
    where = str(path) if path else "manifest"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadArchive(f"{where}: not valid TOML: {exc}", hint="fix the manifest file") from exc
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise BadArchive(
            f"{where}: unknown key(s) {', '.join(unknown)}",
            hint=f"valid top-level keys: {', '.join(sorted(_TOP_KEYS))}",
        )
    for required in ("name", "reader"):
        if not isinstance(data.get(required), str) or not data[required]:
            raise BadArchive(f"{where}: missing {required!r}", hint=f'add a line like {required} = "..."')
    missing_image = data.get("missing_image", "skip")
    if missing_image not in MISSING_IMAGE_POLICIES:
        raise BadArchive(
            f"{where}: missing_image = {missing_image!r}", hint=f"use one of: {', '.join(MISSING_IMAGE_POLICIES)}"
        )
    _check_fields(data.get("fields", {}), where)
    labels = data.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, dict) and "field" in x for x in labels):
        raise BadArchive(f"{where}: labels must be a list of tables", hint='write [[labels]] field = "col" separator = ";"')
    for label in labels:
        extra_keys = sorted(set(label) - {"field", "separator", "prefix"})
        if extra_keys:
            raise BadArchive(f"{where}: unknown label key(s) {', '.join(extra_keys)}", hint="use field, separator, prefix")
    return Manifest(
        name=data["name"],
        reader=data["reader"],
        description=data.get("description", ""),
        default_root=data.get("default_root"),
        source=dict(data.get("source", {})),
        fields=dict(data.get("fields", {})),
        labels=tuple(LabelSource(**x) for x in labels),
        split_map=dict(data.get("split_map", {})),
        licence=data.get("licence"),
        modality=data.get("modality"),
        guess_modality=bool(data.get("guess_modality", False)),
        missing_image=missing_image,
        optional_columns=tuple(data.get("optional_columns", ())),
        path=path,
        text=text,
    )


def _is_spec(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _check_fields(fields, where: str) -> None:
    if not isinstance(fields, dict):
        raise BadArchive(f"{where}: [fields] must be a table", hint='write [fields] then id = "column" ...')
    unknown = sorted(set(fields) - set(FIELD_KEYS))
    if unknown:
        raise BadArchive(f"{where}: unknown field(s) {', '.join(unknown)}", hint=f"valid fields: {', '.join(FIELD_KEYS)}")
    bad = sorted(k for k, v in fields.items() if not _is_spec(v) or (k == "extra" and not isinstance(v, list)))
    if bad:
        raise BadArchive(
            f"{where}: field(s) {', '.join(bad)} must be a column name, a template or a list of them",
            hint='e.g. text = "caption", text = ["findings", "impression"]; extra is always a list',
        )


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadArchive(f"cannot read manifest {path}: {exc.strerror}", hint="check the path") from exc
    return parse_manifest(text, path.absolute())


def builtin_manifest_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"), key=lambda p: p.stem)}
