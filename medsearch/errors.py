"""Domain exceptions. The CLI turns each into exit code ``exit_code`` and one line: the message plus how to fix it."""

from __future__ import annotations


class MedsearchError(Exception):
    """Base class. ``hint`` says, in one line, what the user can do about it."""

    exit_code = 1
    hint = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def one_line(self) -> str:
        msg = str(self)
        return f"{msg} — {self.hint}" if self.hint else msg


class UnknownName(MedsearchError):
    """A name looked up in a registry (model, manifest, template set) that is not there."""

    exit_code = 2

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(
            f"unknown {kind} {name!r}", hint=f"choose one of: {', '.join(sorted(self.valid))}"
        )


class UnknownModel(UnknownName):
    def __init__(self, name: str, valid):
        super().__init__("model", name, valid)


class UnknownManifest(UnknownName):
    def __init__(self, name: str, valid):
        super().__init__("manifest", name, valid)


class ModelUnavailable(MedsearchError):
    """A known model whose weights or packages are not on this machine."""

    exit_code = 3


class BadArchive(MedsearchError):
    """An archive or manifest that cannot be read as a whole (missing root, missing CSV, wrong columns)."""

    exit_code = 4


class BadItem(MedsearchError):
    """One item that cannot be used (corrupt image, DICOM without pixels, broken row). Recorded and skipped."""

    exit_code = 4


class ImageLoadError(BadItem):
    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


class IndexNotFound(MedsearchError):
    exit_code = 5
    hint = "build one with `medsearch index --manifest NAME --root DIR --index DIR`"


class IndexMismatch(MedsearchError):
    """A query or an incremental run with a model (or dimension) other than the index's."""

    exit_code = 6


class IndexCorrupt(MedsearchError):
    exit_code = 7
    hint = "rebuild the index with `medsearch index ... --rebuild`"


class StoreError(MedsearchError):
    exit_code = 8


class ItemNotFound(StoreError):
    """An item id that names no stored item (the store itself answered: not a database failure)."""

    hint = "use an item_id from a search result"


class CaseNotFound(StoreError):
    """An (archive, case key) that names no stored case."""

    hint = "use a case from a grouped search"


class BadQuery(MedsearchError):
    exit_code = 2


class MissingExtra(MedsearchError):
    """An optional feature whose extra packages are not installed (e.g. `serve` without FastAPI)."""

    exit_code = 3


class DeviceUnavailable(ModelUnavailable):
    """A device asked for by name (--device cuda, mps) that this machine does not have."""


class UnsafeBind(MedsearchError):
    """A server asked to listen beyond loopback without an access token."""

    exit_code = 2


class IndexBusy(MedsearchError):
    """Another indexing run holds the index directory."""

    exit_code = 9
    hint = "wait for the other `medsearch index` run on this directory to finish"


class NothingIndexed(MedsearchError):
    """An indexing run that found no usable item: the archive is empty or every row was skipped."""

    exit_code = 10


class ImageTooLarge(ImageLoadError):
    """An image whose declared size (pixels, decoded bytes, inflated bytes) is past a decode limit:
    refused before decoding (a decompression bomb, or a genuine image larger than this deployment allows)."""


class SecretUnavailable(MedsearchError):
    """The per-deployment patient-hash secret can be neither read nor created."""

    exit_code = 3


class BadCalibration(MedsearchError):
    """A calibration file for zero-shot classification that is unreadable, holds no fitted temperature, or was
    fitted for another model."""

    exit_code = 2


class NothingClassified(BadItem):
    """Every file given to `medsearch classify` failed to load (each file's reason is listed with the results)."""
