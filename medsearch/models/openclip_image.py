"""The image side of an open_clip model without torch: its preprocessing in PIL/numpy and its image tower as ONNX.

Preprocessing: ``PreprocessSettings`` is the one owner of a model's image settings (size, mean, std,
interpolation, resize mode, fill colour). They are what open_clip resolved for this model when it loaded it
(``model.visual.preprocess_cfg``: its defaults, then the model config's ``preprocess_cfg``, then the pretrained
tag's, with the size of the vision tower), read once from the loaded model and kept beside the export, so a later
process knows them without open_clip. ``ImageTransform`` applies them with PIL and numpy exactly as open_clip's
inference transform does to a PIL image (the same PIL resize, crop/pad and float32 arithmetic, so the same
numbers); the torch path uses it too, so an index built on a GPU and a query embedded by ONNX see the same pixels.

Export: the vision tower is traced once per model fingerprint into ``$MEDSEARCH_CACHE/openclip-image-<fp>.onnx``
(graph-optimised, written under a temporary name and renamed) plus ``openclip-image-<fp>.json`` (the settings;
written last, so its presence says the export is complete). The export is checked against torch on a random
batch before it is kept; a tower that does not trace, or whose graph disagrees with torch, is recorded as
``openclip-image-<fp>.unsupported`` and keeps running on torch. The marker names the exporter revision and the
torch version it was made with; another revision or torch tries again (delete it to try sooner).
Tested against torch to 1e-4 (tests/test_openclip_image.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from medsearch.models.onnx_cache import cache_dir

log = logging.getLogger(__name__)

AGREEMENT = 1e-3  # largest |onnx - torch| of a unit embedding accepted at export (tests hold it to 1e-4)
# raised whenever the export learns a tower it refused before (2: attention's fast path off while tracing), so
# that an older 'unsupported' marker is retried instead of keeping that model on torch for good
EXPORTER_REVISION = 2
_EXPORTING = threading.Lock()  # threads of one process share its temporary file names: one export at a time


@dataclass(frozen=True)
class PreprocessSettings:
    """open_clip's inference preprocessing of one model (its ``PreprocessCfg`` fields, size as (height, width))."""

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"  # open_clip: 'bicubic' | 'bilinear' | 'random' (bicubic at inference)
    resize_mode: str = "shortest"  # 'shortest' (resize + centre crop) | 'longest' (resize + pad) | 'squash'
    fill_color: int = 0

    @classmethod
    def from_open_clip(cls, cfg: dict) -> "PreprocessSettings":
        """From open_clip's resolved ``model.visual.preprocess_cfg`` dict."""
        size = cfg["size"]
        size = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[-2]), int(size[-1]))
        mean, std = cfg["mean"], cfg["std"]
        mean = tuple(float(m) for m in (mean if isinstance(mean, (list, tuple)) else (mean,) * 3))
        std = tuple(float(s) for s in (std if isinstance(std, (list, tuple)) else (std,) * 3))
        return cls(size, mean, std, cfg.get("interpolation") or "bicubic", cfg.get("resize_mode") or "shortest",
                   int(cfg.get("fill_color") or 0))

    @classmethod
    def of_model(cls, model) -> "PreprocessSettings":
        return cls.from_open_clip(getattr(model, "visual", model).preprocess_cfg)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "PreprocessSettings":
        return cls(tuple(data["size"]), tuple(data["mean"]), tuple(data["std"]), data["interpolation"],
                   data["resize_mode"], int(data["fill_color"]))


class ImageTransform:
    """PIL image -> float32 (3, H, W), as open_clip's ``image_transform(..., is_train=False)`` computes it for a PIL
    image (torchvision's PIL resize, centre crop or pad, ToTensor, Normalize), without torch. Picklable."""

    def __init__(self, settings: PreprocessSettings):
        self.settings = settings
        self._mean = np.asarray(settings.mean, dtype=np.float32)[:, None, None]
        self._std = np.asarray(settings.std, dtype=np.float32)[:, None, None]

    def __call__(self, image) -> np.ndarray:
        from PIL import Image

        s = self.settings
        image = image.convert("RGB")
        resample = Image.BILINEAR if s.interpolation == "bilinear" else Image.BICUBIC
        th, tw = s.size
        w, h = image.size
        if s.resize_mode == "squash":
            image = _resize(image, (th, tw), resample)
        elif s.resize_mode == "longest":  # ResizeKeepRatio(longest=1) + CenterCropOrPad(fill)
            image = _resize(image, _keep_ratio((h, w), (th, tw), longest=True), resample)
        elif th == tw:  # Resize(shortest edge) + CenterCrop
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = th, int(th * long / short)
            image = _resize(image, (new_long, new_short) if w <= h else (new_short, new_long), resample)
        else:  # open_clip's non-square 'shortest': ResizeKeepRatio(size) with its default, bicubic
            image = _resize(image, _keep_ratio((h, w), (th, tw), longest=False), Image.BICUBIC)
        pixels = _crop_or_pad(np.asarray(image, dtype=np.uint8), (th, tw),
                              s.fill_color if s.resize_mode == "longest" else 0)
        chw = pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
        return np.ascontiguousarray((chw - self._mean) / self._std, dtype=np.float32)


def _keep_ratio(source: tuple[int, int], target: tuple[int, int], longest: bool) -> tuple[int, int]:
    (h, w), (th, tw) = source, target
    ratios = (h / th, w / tw)
    ratio = max(ratios) if longest else min(ratios)
    return round(h / ratio), round(w / ratio)


def _resize(image, size_hw: tuple[int, int], resample):
    h, w = size_hw
    return image if image.size == (w, h) else image.resize((w, h), resample)


def _crop_or_pad(pixels: np.ndarray, size: tuple[int, int], fill: int) -> np.ndarray:
    """torchvision's center_crop (and open_clip's center_crop_or_pad): pad to at least ``size``, then crop."""
    th, tw = size
    h, w = pixels.shape[:2]
    if th > h or tw > w:
        top, left = max(th - h, 0) // 2, max(tw - w, 0) // 2
        bottom, right = (max(th - h, 0) + 1) // 2, (max(tw - w, 0) + 1) // 2
        pixels = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), constant_values=fill)
        h, w = pixels.shape[:2]
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    return pixels[top:top + th, left:left + tw]


# --- the exported tower ---------------------------------------------------------------------------------

def paths(fp: str) -> tuple[Path, Path, Path]:
    """(graph, settings, 'unsupported' marker) of the model with fingerprint ``fp``."""
    base = cache_dir() / f"openclip-image-{fp}"
    return base.with_suffix(".onnx"), base.with_suffix(".json"), base.with_suffix(".unsupported")


def is_exported(fp: str) -> bool:
    onnx_file, meta_file, _ = paths(fp)
    return onnx_file.exists() and meta_file.exists()


def is_unsupported(fp: str) -> bool:
    """A refusal made by this exporter revision with this torch (another one may export the tower)."""
    try:
        return paths(fp)[2].read_text().splitlines()[:1] == [_refusal_stamp()]
    except OSError:  # no marker
        return False


def _refusal_stamp() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "none"
    return f"exporter revision {EXPORTER_REVISION}, torch {torch_version}"


def cached_settings(fp: str) -> PreprocessSettings | None:
    """The settings kept beside a complete export, or None."""
    if not is_exported(fp):
        return None
    return PreprocessSettings.from_json(json.loads(paths(fp)[1].read_text()))


def export(model, settings: PreprocessSettings, fp: str) -> bool:
    """Trace ``model.visual`` (a CPU float32 open_clip model) into the cache; False (and the marker written) when
    it does not trace or its graph disagrees with torch."""
    with _EXPORTING:
        if is_exported(fp) or is_unsupported(fp):  # another thread did it meanwhile
            return is_exported(fp)
        try:
            return _export(model, settings, fp)
        except OSError as exc:  # a read-only or full cache: nothing is wrong with the tower, so no marker either
            log.warning("the image tower runs on torch in this process: its export cannot be written to %s (%s)",
                        cache_dir(), exc)
            return False


def _export(model, settings: PreprocessSettings, fp: str) -> bool:
    import torch

    from medsearch.models.image_runtime import ImageRuntime
    from medsearch.models.onnx_cache import export_optimised, graph_errors

    onnx_file, meta_file, marker = paths(fp)
    h, w = settings.size
    probe = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 3, h, w)).astype(np.float32))
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # nn.MultiheadAttention's inference fast path (open_clip's own ViTs and ResNets' attention pool) traces to
    # aten::_native_multi_head_attention, which has no ONNX form; the plain path computes the same
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        export_optimised(model.visual, (torch.zeros(2, 3, h, w),), onnx_file, input_names=["pixels"],
                         dynamic_axes={"pixels": {0: "n"}, "embedding": {0: "n"}})
        got = ImageRuntime(onnx_file).encode(probe.numpy())
    except (RuntimeError, *graph_errors()) as exc:  # torch.onnx's errors, a tracer failure, onnxruntime's
        return _unsupported(onnx_file, marker, f"export failed: {str(exc).strip().splitlines()[0][:300]}")
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    with torch.inference_mode():
        want = torch.nn.functional.normalize(model.visual(probe).float(), dim=-1).numpy()
    gap = float(np.abs(got - want).max())
    if gap > AGREEMENT:
        return _unsupported(onnx_file, marker, f"ONNX and torch differ by {gap:.2e} on a probe batch")
    tmp = meta_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(settings.to_json()))
    tmp.replace(meta_file)  # last: its presence says the export is complete
    marker.unlink(missing_ok=True)  # an older exporter's or torch's refusal
    return True


def _unsupported(onnx_file: Path, marker: Path, reason: str) -> bool:
    log.warning("the image tower stays on torch: %s (%s)", reason, marker)
    onnx_file.unlink(missing_ok=True)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{_refusal_stamp()}\n{reason}\n")
    return False


def load(fp: str):
    """The exported tower as an ``image_runtime.ImageRuntime`` (pixels -> unit embeddings), or None."""
    from medsearch.models.image_runtime import ImageRuntime

    return ImageRuntime(paths(fp)[0]) if is_exported(fp) else None
