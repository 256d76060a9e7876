"""`medsearch train` as a Python function: archive -> pairs -> (cached features) -> loop -> metrics and weights.

Two trainables, chosen by model name through ``TRAINABLES`` (a registry, not an if-chain):
- ``medsearch-default``: heads (+ last tower block/layer) over cached frozen-tower features; writes the
  exported default weights file;
- any open_clip name (``hf-hub:``, ``local-dir:``, ``open_clip:``, ``biomedclip``): end-to-end fine-tuning.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from medsearch.archives.item import Item, Skipped
from medsearch.errors import BadArchive, BadQuery
from medsearch.progress import progress_display
from medsearch.train.loop import TrainConfig, TrainResult

OPENCLIP_MODEL_DIR = "model"  # a fine-tuned open_clip model: index it with --model local-dir:OUT/model


@dataclass
class TrainRequest:
    manifest: str
    root: str
    out: Path
    model: str = "medsearch-default"
    licences: tuple[str, ...] | None = None  # train only on rows with these licences (None: all rows)
    unfreeze_image: int = 0  # last EfficientNet stages to fine-tune
    unfreeze_text: int = 0  # last MiniLM layers to fine-tune
    dim: int = 256
    hidden: int = 512
    dropout: float = 0.1
    feature_noise: float = 0.1
    cache_dir: Path | None = None
    resume: bool = False
    progress: bool = True
    device: str = "cpu"
    config: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class Splits:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_rows(splits: list, licences: list, allowed: tuple[str, ...] | None, seed: int = 0) -> Splits:
    """Row numbers per split; training rows filtered by licence. No val split: 10% of train, by seed."""
    splits_arr = np.array([s or "train" for s in splits])
    lic = np.array([x or "" for x in licences])
    train = np.flatnonzero(splits_arr == "train")
    val = np.flatnonzero(splits_arr == "val")
    if len(val) == 0:
        shuffled = np.random.default_rng(seed).permutation(train)
        cut = max(1, len(train) // 10)
        val, train = np.sort(shuffled[:cut]), np.sort(shuffled[cut:])
    if allowed is not None:
        train = train[np.isin(lic[train], list(allowed))]
    return Splits(train, val, np.flatnonzero(splits_arr == "test"))


def check_training_rows(archive_name: str, rows: Splits, licences: tuple[str, ...] | None) -> None:
    """BadArchive naming the real cause when fewer than two image+text pairs are left to train on: the split
    column, or the licence filter when one was given."""
    if len(rows.train) >= 2:
        return
    if licences:
        raise BadArchive(f"{archive_name}: only {len(rows.train)} training pair(s) with licence {', '.join(licences)}; "
                         "training needs at least 2",
                         hint="widen --licence (or leave out --redistributable), or add rows under those licences")
    raise BadArchive(f"{archive_name}: only {len(rows.train)} training pair(s) (image + text, split 'train'); "
                     "training needs at least 2",
                     hint="mark more image+text rows split 'train' (a row with no split counts as train; without a "
                          "'val' split a tenth of train is held out)")


def read_pairs(manifest: str, root: str) -> tuple[str, list[Item], list[Skipped]]:
    from medsearch.archives import open_archive

    archive = open_archive(manifest, root)
    items = [it for it in archive.items() if it.image_path is not None and it.text]
    if not items:
        raise BadArchive(f"{manifest}: no items with both an image and a text under {root}")
    return archive.name, items, list(archive.skipped)


def feature_cache_dir(req: TrainRequest, archive_name: str) -> Path:
    from medsearch.models.onnx_cache import cache_dir

    tag = hashlib.sha256(f"{Path(req.root).resolve()}".encode()).hexdigest()[:8]
    return Path(req.cache_dir or cache_dir() / "features") / f"{archive_name}-{tag}"


def _cache_serves(cache_meta: dict, req: TrainRequest) -> bool:
    """A cache cut at stage/layer N serves both frozen training (0) and unfreezing exactly N."""
    return req.unfreeze_image in (0, cache_meta["image_top"]) and req.unfreeze_text in (0, cache_meta["text_top"])


def _default_trainable(req: TrainRequest, archive_name: str, items: list[Item], skipped: list[Skipped]):
    from medsearch.train.feature_model import FeatureData, FeatureModel
    from medsearch.train.features import ITEMS_FILE, FeatureCache, extract

    cache_path = feature_cache_dir(req, archive_name)
    cache = FeatureCache.load(cache_path) if (cache_path / ITEMS_FILE).exists() else None
    if cache is None or not _cache_serves(cache.meta, req):
        image_top, text_top = max(req.unfreeze_image, 1), max(req.unfreeze_text, 1)
        with progress_display(req.progress) as bar:
            task = bar.add_task("caching tower features", total=len(items))
            cache = extract(items, image_top, text_top, skipped=skipped,
                            progress=lambda done: bar.update(task, completed=done))
        cache.save(cache_path)
    model = FeatureModel(req.dim, req.hidden, req.dropout, req.unfreeze_image, req.unfreeze_text, req.feature_noise)
    data = FeatureData(cache, req.unfreeze_image, req.unfreeze_text)
    return model, data, cache.splits, cache.licences


def _openclip_trainable(req: TrainRequest, archive_name: str, items: list[Item], skipped: list[Skipped]):
    from medsearch.models.registry import resolve
    from medsearch.train.openclip_model import ItemData, OpenClipModule

    name = resolve(req.model).options.get("name", req.model)
    model = OpenClipModule(name, req.device)
    data = ItemData(items, model.preprocess, model.tokenizer)
    return model, data, [it.split for it in items], [it.licence for it in items]


TRAINABLES = {"medsearch-default": _default_trainable}


def run(req: TrainRequest) -> dict:
    """Train, keep the best epoch by val recall, report val and test recall; returns the metrics dict."""
    import torch

    from medsearch.train import checkpoint
    from medsearch.train.loop import evaluate, train

    out = Path(req.out)
    if out.exists() and not out.is_dir():  # checked before the features are cached, which takes a while
        raise BadQuery(f"--out {out} is a file, not a run directory", hint="give a folder for the run (it is created)")
    torch.manual_seed(req.config.seed)
    archive_name, items, skipped = read_pairs(req.manifest, req.root)
    build = TRAINABLES.get(req.model, _openclip_trainable)
    model, data, splits, licences = build(req, archive_name, items, skipped)
    rows = split_rows(splits, licences, req.licences, req.config.seed)
    check_training_rows(archive_name, rows, req.licences)
    result: TrainResult = train(model, data, rows.train, rows.val, req.config, req.out, req.resume, req.progress)
    checkpoint.load_weights(req.out / checkpoint.BEST_FILE, model)
    test = evaluate(model, data, rows.test, req.config.eval_batch) if len(rows.test) else {}
    metrics = {
        "archive": archive_name,
        "model": req.model,
        "train_pairs": int(len(rows.train)),
        "licences": list(req.licences) if req.licences else "all",
        "best_epoch": result.best_epoch,
        "val": result.best_val,
        "test": test,
        "history": result.history,
        "skipped": [asdict(s) for s in skipped],
        "request": _request_record(req),
        "logit_scale": float(model.scale().detach()),
    }
    (req.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if req.model in TRAINABLES:
        from medsearch.models.default import RUN_WEIGHTS
        from medsearch.train.export import export_default

        export_default(req.out / checkpoint.BEST_FILE, req.out / RUN_WEIGHTS, metrics)
        model_dir = req.out
    else:
        from medsearch.train.openclip_export import export_local_dir

        name = model.config["open_clip"]
        export_local_dir(req.out / checkpoint.BEST_FILE, name, req.out / OPENCLIP_MODEL_DIR)
        model_dir = req.out / OPENCLIP_MODEL_DIR
    metrics["model_dir"] = str(model_dir)
    (req.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def _request_record(req: TrainRequest) -> dict:
    d = asdict(req)
    d["out"], d["cache_dir"] = str(req.out), str(req.cache_dir) if req.cache_dir else None
    return d
