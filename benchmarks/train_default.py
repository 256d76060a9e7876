"""Train the embedded default (second generation) on cached tower features from several sources; reproduce the
shipped weights and the comparison table in medsearch/models/MODEL_CARD.md.

    python benchmarks/model_features.py --out FEAT [--views 1]         # once: frozen-tower outputs (+1 augmented view)
    python benchmarks/train_default.py --features FEAT --runs RUNS [--only NAME ...] [--ship NAME] [--ship-cc NAME]

Data (see model_features.py): ROCO train rows (all licences, or only CC BY / CC0 for ``*_cc`` settings), MedPix 2.0
train cases, NIH ChestX-ray14 train images with label sentences (``+nih`` settings). Every setting picks its best
epoch on one pool made of ROCO val + MedPix dev (mean recall@1/5/10 both ways, raw embeddings), then is scored on
ROCO val, ROCO test (same-caption relevance) and MedPix dev (case-aware relevance) with bootstrap 95% CIs, and
writes benchmarks/results/model2_<name>.json. ``--ship NAME`` / ``--ship-cc NAME`` copy a run's exported weights to
medsearch/models/weights/medsearch-default.safetensors / medsearch-default-cc.safetensors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from medsearch.archives.licences import REDISTRIBUTABLE

RESULTS = Path(__file__).parent / "results"
WEIGHTS_DIR = Path(__file__).parents[1] / "medsearch" / "models" / "weights"

BASE = {"sources": ["roco", "medpix"], "cc": False, "hidden": 0, "dropout": 0.0, "noise": 0.3, "image_top": 0,
        "text_top": 0, "views": 0, "soft": 0.0, "queue": 0, "lr": 1e-3, "tower_lr": 1e-4, "wd": 0.2, "epochs": 20,
        "batch": 128, "seed": 0, "multiscale": False}
MLP = {"hidden": 512, "dropout": 0.5, "noise": 0.5, "lr": 5e-4}
CC_ONLY = {"sources": ["roco", "medpix"], "train_sources": ["roco"], "cc": True}

SETTINGS: dict[str, dict] = {
    # heads on frozen towers
    "lin": {},
    "mlp": MLP,
    "lin_aug": {"views": 1},
    "mlp_aug": {**MLP, "views": 1},
    "lin_soft": {"soft": 0.3},
    "mlp_soft": {**MLP, "soft": 0.3},
    "lin_queue": {"queue": 1024},
    "lin_nih": {"sources": ["roco", "medpix", "nih"]},
    "mlp_nih": {**MLP, "sources": ["roco", "medpix", "nih"]},
    "mlp_nih_s1": {**MLP, "sources": ["roco", "medpix", "nih"], "seed": 1},
    "mlp_nih_s2": {**MLP, "sources": ["roco", "medpix", "nih"], "seed": 2},
    "mlp_nih_b256": {**MLP, "sources": ["roco", "medpix", "nih"], "batch": 256},
    "mlp_nih_b256_s1": {**MLP, "sources": ["roco", "medpix", "nih"], "batch": 256, "seed": 1},
    "mlp_nih_b256_s2": {**MLP, "sources": ["roco", "medpix", "nih"], "batch": 256, "seed": 2},
    # heads that also see pooled inputs of the last image stage / text layer (lower-level features)
    "ms_lin": {"multiscale": True},
    "ms_mlp": {**MLP, "multiscale": True},
    "ms_mlp_s1": {**MLP, "multiscale": True, "seed": 1},
    "ms_mlp_s2": {**MLP, "multiscale": True, "seed": 2},
    "ms_mlp_e30": {**MLP, "multiscale": True, "epochs": 30},
    "ms_mlp_aug": {**MLP, "multiscale": True, "views": 1},
    "ms_mlp_cc": {**MLP, **CC_ONLY, "multiscale": True},
    "ms_mlp_cc_s1": {**MLP, **CC_ONLY, "multiscale": True, "seed": 1},
    "ms_mlp_cc_s2": {**MLP, **CC_ONLY, "multiscale": True, "seed": 2},
    "ms_lin_cc": {**CC_ONLY, "multiscale": True},
    # MLP head variants (and other seeds of the MLP, for the seed ensemble)
    "mlp_s1": {**MLP, "seed": 1},
    "mlp_s2": {**MLP, "seed": 2},
    "mlp_b256": {**MLP, "batch": 256},
    "mlp_h1024": {**MLP, "hidden": 1024},
    "mlp_reg03": {**MLP, "dropout": 0.3, "noise": 0.3},
    "mlp_lr3e4": {**MLP, "lr": 3e-4, "epochs": 30},
    # unfrozen last EfficientNet stage (+ conv head) on cached stage inputs, with and without augmented views
    "img1": {**MLP, "image_top": 1, "epochs": 12},
    "img1_aug": {**MLP, "image_top": 1, "views": 1, "epochs": 12},
    # unfrozen last MiniLM layer
    "txt1": {**MLP, "text_top": 1, "epochs": 12},
    # redistributable-only: ROCO CC BY / CC0 rows
    # (MedPix is loaded for selection and evaluation only: these train on ROCO CC BY / CC0 rows alone)
    "lin_cc": {**CC_ONLY},
    "mlp_cc": {**MLP, **CC_ONLY},
    "mlp_cc_s1": {**MLP, **CC_ONLY, "seed": 1},
    "mlp_cc_s2": {**MLP, **CC_ONLY, "seed": 2},
}


def build(setting: dict, features: Path, seed: int = 0):
    import torch

    from medsearch.train.feature_model import FeatureModel
    from medsearch.train.multisource import AugFeatureData, load_sources

    cache, views = load_sources(features, setting["sources"], setting["views"])
    splits = np.array(cache.splits)
    lic = np.array([x or "" for x in cache.licences])
    train_sources = setting.get("train_sources", setting["sources"])
    train = np.flatnonzero(np.isin(splits, [f"{s}:train" for s in train_sources]))
    if setting["cc"]:
        train = train[np.isin(lic[train], REDISTRIBUTABLE)]
    val = np.flatnonzero(np.isin(splits, ["roco:val", "medpix:dev"]))
    torch.manual_seed(seed)
    model = FeatureModel(256, setting["hidden"], setting["dropout"], setting["image_top"], setting["text_top"],
                         setting["noise"], setting["multiscale"])
    data = AugFeatureData(cache, setting["image_top"], setting["text_top"], views, train, seed=seed)
    return model, data, cache, train, val


class Ensemble:
    """Several trained (model, data) pairs over the same cache: concatenated unit outputs / sqrt(K)."""

    def __init__(self, members):
        self.members = members


def embed(model, data, rows):
    from medsearch.train.loop import embed_rows

    if isinstance(model, Ensemble):
        parts = [embed_rows(m, d, rows) for m, d in model.members]
        k = len(parts) ** 0.5
        return np.concatenate([p[0] for p in parts], 1) / k, np.concatenate([p[1] for p in parts], 1) / k
    return embed_rows(model, data, rows)


def score(model, data, cache, n_boot: int = 1000) -> dict:
    """ROCO val / test (same caption relevant) and MedPix dev (same case relevant), raw embeddings, with CIs."""
    from medsearch.eval.retrieval import evaluate_pairs

    splits = np.array(cache.splits)
    out = {}
    for name, split, group in (("roco_val", "roco:val", None), ("roco_test", "roco:test", None),
                               ("medpix_dev", "medpix:dev", "case:")):
        rows = np.flatnonzero(splits == split)
        if split.split(":")[0] not in cache.meta["sources"]:
            continue
        if not len(rows):
            continue
        image, text = embed(model, data, rows)
        texts = [cache.texts[r] for r in rows]
        groups = None
        if group:
            groups = [next((x for x in cache.labels[r] if x.startswith(group)), cache.keys[r]) for r in rows]
        res = evaluate_pairs(image, text, texts, n_boot=n_boot, groups=groups)
        out[name] = {"pool": res.pool_size, "recall": res.recall}
    return out


def mean_r10(s: dict) -> float:
    return float(np.mean([s[p]["recall"][d]["R@10"]["value"] for p in ("roco_val", "medpix_dev") if p in s
                          for d in ("image_to_text", "text_to_image")]))


def run_one(name: str, features: Path, runs: Path) -> dict:
    from medsearch.train import checkpoint
    from medsearch.train.export import export_default
    from medsearch.train.loop import TrainConfig, train

    setting = {**BASE, **SETTINGS[name]}
    model, data, cache, train_rows, val_rows = build(setting, features, setting["seed"])
    cfg = TrainConfig(epochs=setting["epochs"], batch_size=setting["batch"], lr=setting["lr"], seed=setting["seed"],
                      tower_lr=setting["tower_lr"], weight_decay=setting["wd"], soft_weight=setting["soft"],
                      queue_size=setting["queue"])
    out = runs / name
    t0 = time.time()
    result = train(model, data, train_rows, val_rows, cfg, out, progress=False)
    checkpoint.load_weights(out / checkpoint.BEST_FILE, model)
    scores = score(model, data, cache)
    sources = {s: int(sum(1 for r in train_rows if cache.splits[r].startswith(s + ":")))
               for s in setting.get("train_sources", setting["sources"])}
    metrics = {
        "name": name, "setting": setting, "train_pairs": int(len(train_rows)), "train_pairs_by_source": sources,
        "best_epoch": result.best_epoch, "val_pool": result.best_val, "scores": scores,
        "selection_mean_r10": mean_r10(scores), "seconds": round(time.time() - t0, 1),
        "licences": "CC BY + CC0 (ROCO only)" if setting["cc"] else "all ROCO licences + MedPix (research and education use)"
                    + (" + NIH ChestX-ray14" if "nih" in setting["sources"] else ""),
        "archive": "+".join(setting.get("train_sources", setting["sources"])),
    }
    summary = {"archive": metrics["archive"], "train_pairs": metrics["train_pairs"], "licences": metrics["licences"],
               "best_epoch": result.best_epoch,
               "test": {f"{d[0]}2{d.split('_to_')[1][0]}@{k}": 100 * scores["roco_test"]["recall"][d][f"R@{k}"]["value"]
                        for d in ("image_to_text", "text_to_image") for k in (1, 5, 10)}}
    export_default(out / checkpoint.BEST_FILE, out / "medsearch-default.safetensors", summary)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def run_ensemble(name: str, members: list[str], features: Path, runs: Path) -> dict:
    """Score K already-trained runs of one setting as a seed ensemble and export it as one weights file."""
    from medsearch.train import checkpoint
    from medsearch.train.export import export_ensemble

    parts, settings = [], []
    for member in members:
        setting = {**BASE, **SETTINGS[member]}
        model, data, cache, train_rows, _ = build(setting, features, setting["seed"])
        checkpoint.load_weights(runs / member / checkpoint.BEST_FILE, model)
        parts.append((model, data))
        settings.append(setting)
    scores = score(Ensemble(parts), None, cache)
    metrics = {"name": name, "members": members, "setting": settings[0], "train_pairs": int(len(train_rows)),
               "best_epoch": [json.loads((runs / m / "metrics.json").read_text())["best_epoch"] for m in members],
               "scores": scores, "selection_mean_r10": mean_r10(scores), "seconds": 0.0,
               "licences": json.loads((runs / members[0] / "metrics.json").read_text())["licences"],
               "archive": "+".join(settings[0].get("train_sources", settings[0]["sources"]))}
    summary = {"archive": metrics["archive"], "train_pairs": metrics["train_pairs"], "licences": metrics["licences"],
               "test": {f"{d[0]}2{d.split('_to_')[1][0]}@{k}": 100 * scores["roco_test"]["recall"][d][f"R@{k}"]["value"]
                        for d in ("image_to_text", "text_to_image") for k in (1, 5, 10)}}
    out = runs / name
    out.mkdir(parents=True, exist_ok=True)
    export_ensemble([runs / m / checkpoint.BEST_FILE for m in members], out / "medsearch-default.safetensors", summary)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def line(m: dict) -> str:
    s = m["scores"]

    def r(p, d):
        if p not in s:
            return "-"
        v = s[p]["recall"][d]
        return "/".join(f"{100 * v[f'R@{k}']['value']:.1f}" for k in (1, 5, 10))

    return (f"{m['name']:10s} n={m['train_pairs']:5d} ep {str(m['best_epoch']):2s} sel {100 * m['selection_mean_r10']:.1f} | "
            f"val i2t {r('roco_val', 'image_to_text')} t2i {r('roco_val', 'text_to_image')} | "
            f"mp i2t {r('medpix_dev', 'image_to_text')} t2i {r('medpix_dev', 'text_to_image')} | "
            f"test i2t {r('roco_test', 'image_to_text')} t2i {r('roco_test', 'text_to_image')}  ({m['seconds']} s)")


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--ship", default=None, help="copy this run's weights to medsearch-default.safetensors")
    ap.add_argument("--ship-cc", default=None, help="copy this run's weights to medsearch-default-cc.safetensors")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ensemble", nargs="+", default=None, metavar=("NAME", "MEMBER"),
                    help="score already-trained runs MEMBER... as one seed ensemble NAME (after training them)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.ensemble:
        metrics = run_ensemble(args.ensemble[0], args.ensemble[1:], args.features, args.runs)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"model2_{args.ensemble[0]}.json").write_text(json.dumps(metrics, indent=1) + "\n")
        print(line(metrics), flush=True)
    for name in args.only if args.only is not None else ([] if args.ensemble else list(SETTINGS)):
        metrics = run_one(name, args.features, args.runs)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"model2_{name}.json").write_text(json.dumps(metrics, indent=1) + "\n")
        print(line(metrics), flush=True)
    for name, target in ((args.ship, "medsearch-default"), (args.ship_cc, "medsearch-default-cc")):
        if name:
            shutil.copyfile(args.runs / name / "medsearch-default.safetensors", WEIGHTS_DIR / f"{target}.safetensors")
            print(f"shipped {name} -> {WEIGHTS_DIR / target}.safetensors")


if __name__ == "__main__":
    main()
