"""Training the default on several cached sources at once, with augmented image views.

``load_sources`` merges FeatureCache directories (one per source, written by benchmarks/model_features.py) into one
cache whose splits are prefixed by the source (``roco:train``, ``medpix:dev``...), plus any augmented image views
(``<source>-aug<k>``: the same rows' image features from augmented images). ``AugFeatureData`` serves a training
row's image features from a random view (the clean one included) and evaluation rows always from the clean view,
so heads and an unfrozen last image stage train on augmented images without rerunning the frozen trunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from medsearch.train.feature_model import FeatureData
from medsearch.train.features import FEATURES_FILE, FeatureCache

IMAGE_KEYS = ("image_pooled", "image_map")
# label prefixes that mark two captions as partly the same answer (soft targets): ROCO UMLS concepts, the ROCO
# article and the MedPix case (captions repeat within them), the MedPix diagnosis, the NIH finding labels
SOFT_LABEL_PREFIXES = ("C", "article:", "case:", "dx:", "nih:")


def load_sources(feature_dir: Path, names: list[str], views: int = 0) -> tuple[FeatureCache, list[dict]]:
    """-> (merged clean cache, [view k's image tensors for all rows, k = 1..views]) ; rows in ``names`` order."""
    from safetensors.numpy import load_file

    caches = [FeatureCache.load(feature_dir / name) for name in names]
    merged_views: list[dict] = []
    for k in range(1, views + 1):
        parts = [load_file(str(feature_dir / f"{name}-aug{k}" / FEATURES_FILE)) for name in names]
        merged_views.append({key: np.concatenate([p[key] for p in parts]) for key in IMAGE_KEYS})
    tensors: dict = {}
    for key in ("image_pooled", "image_map", "text_pooled", "text_hidden"):
        tensors[key] = np.concatenate([c.tensors[key] for c in caches])
    offsets, base = [np.zeros(1, dtype=np.int64)], 0
    for c in caches:
        offsets.append(c.tensors["text_offsets"][1:] + base)
        base += int(c.tensors["text_offsets"][-1])
    tensors["text_offsets"] = np.concatenate(offsets)
    merged = FeatureCache(
        keys=[f"{n}:{k}" for n, c in zip(names, caches) for k in c.keys],
        texts=[t for c in caches for t in c.texts],
        splits=[f"{n}:{s}" for n, c in zip(names, caches) for s in c.splits],
        licences=[x for c in caches for x in c.licences],
        labels=[list(ls) for c in caches for ls in c.labels],
        tensors=tensors,
        meta={"sources": names, "image_top": caches[0].meta["image_top"], "text_top": caches[0].meta["text_top"]},
    )
    for view in merged_views:
        if len(view["image_pooled"]) != len(merged):
            raise ValueError("an augmented view does not cover the same rows as its clean cache")
        view["image_mid"] = mid_image(view["image_map"])
    merged.tensors["image_mid"] = mid_image(tensors["image_map"])
    merged.tensors["text_mid"] = mid_text(tensors["text_hidden"], tensors["text_offsets"])
    return merged, merged_views


def mid_image(maps: np.ndarray) -> np.ndarray:
    """Global average of the last EfficientNet stage's input (n, 192, 7, 7) -> (n, 192): a lower-level feature."""
    return maps.astype(np.float32).mean(axis=(2, 3))


def mid_text(hidden: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean over each text's tokens of the last MiniLM layer's input -> (n, 384)."""
    sums = np.add.reduceat(hidden.astype(np.float32), offsets[:-1], axis=0)
    return (sums / np.diff(offsets)[:, None]).astype(np.float32)


class AugFeatureData(FeatureData):
    """FeatureData whose training rows draw their image features from a random view (seeded per call)."""

    def __init__(self, cache: FeatureCache, image_top: int, text_top: int, views: list[dict], train_rows,
                 seed: int = 0, label_prefixes: tuple[str, ...] = SOFT_LABEL_PREFIXES):
        super().__init__(cache, image_top, text_top)
        self.views = views
        self.train = np.zeros(len(cache), dtype=bool)
        self.train[np.asarray(train_rows, dtype=np.int64)] = True
        self.rng = np.random.default_rng(seed)
        self.label_sets = [frozenset(x for x in ls if x.startswith(label_prefixes)) for ls in cache.labels]

    def batch(self, rows: np.ndarray) -> dict:
        out = super().batch(rows)
        t = self.cache.tensors
        out["image_mid"] = torch.from_numpy(t["image_mid"][rows])
        out["text_mid"] = torch.from_numpy(t["text_mid"][rows])
        if not self.views or not self.train[rows].all():
            return out
        keys = ["image_map" if self.image_top else "image_pooled", "image_mid"]
        choice = self.rng.integers(0, len(self.views) + 1, len(rows))  # 0: the clean view
        for key in keys:
            feats = out[key].numpy().copy()
            for j, (r, v) in enumerate(zip(rows, choice)):
                if v:
                    feats[j] = self.views[v - 1][key][r]
            out[key] = torch.from_numpy(feats)
        return out
