"""Zero-shot classification: class prompts (through the query layer's template ensembles) against image embeddings.

Tasks are named in ``TASKS``: each says which archive it reads, how an item's labels become a class, and the
phrase per class. Single-label tasks (``nih-normal``, ``roco-modality``) report accuracy, per-class and macro
AUROC, sensitivity at 95% specificity, ECE before and after temperature scaling fitted on the val split, and
subgroup AUROC gaps (sex, age band) where items carry them. ``nih-findings`` is multi-label: one-vs-normal
scores per finding, per-finding and macro AUROC and sensitivity at 95% specificity.

Besides the built-in tasks, ``manifest_task`` makes a single-label task from any archive manifest and a label
field (``bench zeroshot --manifest covid-chestxray --label-field finding``): one class per distinct value.

This module is the one owner of the zero-shot arithmetic: ``class_embeddings`` (prompt ensembles),
``zero_shot_logits`` and ``zero_shot_probabilities`` (softmax through a temperature) and ``review_flags`` are
shared with ``medsearch classify`` (medsearch/classifier.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from medsearch.archives.item import Item
from medsearch.errors import BadArchive, BadQuery, UnknownName
from medsearch.eval import metrics

MANIFEST_DIR = Path(__file__).parent / "manifests"
NORMAL_LABEL = "No Finding"
MIN_POSITIVES = 5  # a class with fewer positives in the split gets no AUROC (its interval would be meaningless)

NIH_FINDINGS = {
    "Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Consolidation": "consolidation",
    "Edema": "pulmonary edema", "Effusion": "pleural effusion", "Emphysema": "emphysema",
    "Fibrosis": "pulmonary fibrosis", "Hernia": "hiatal hernia", "Infiltration": "pulmonary infiltrate",
    "Mass": "lung mass", "Nodule": "lung nodule", "Pleural_Thickening": "pleural thickening",
    "Pneumonia": "pneumonia", "Pneumothorax": "pneumothorax",
}

# archive modality (canonical code from medsearch.archives.modality keyword rules on captions) -> class phrase
ROCO_MODALITIES = {
    "CT": "computed tomography scan", "MR": "magnetic resonance imaging scan",
    "US": "ultrasound image", "XR": "plain radiograph", "XA": "angiogram",
}


class UnknownTask(UnknownName):
    def __init__(self, name: str, valid):
        super().__init__("zero-shot task", name, valid)


@dataclass(frozen=True)
class Task:
    name: str
    manifest: str  # built-in archive name or a manifest path
    classes: dict[str, str]  # class -> phrase embedded through the template ensemble
    label_of: Callable[[Item], str | None]  # single-label: the item's class (None: not in this task)
    multilabel: bool = False
    description: str = ""
    reference_phrase: str = "normal chest radiograph"  # multi-label: each finding is scored against this
    template_set: str = "clinical"


def _normal_or_abnormal(item: Item) -> str | None:
    if not item.labels:
        return None
    return "normal" if item.labels == [NORMAL_LABEL] else "abnormal"


def _roco_modality(item: Item) -> str | None:
    return item.modality if item.modality in ROCO_MODALITIES else None


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("nih-normal", str(MANIFEST_DIR / "nih-cxr14.toml"),
             {"normal": "normal chest radiograph with no acute findings",
              "abnormal": "abnormal chest radiograph with disease"},
             _normal_or_abnormal, description="NIH ChestX-ray14: No Finding vs any finding"),
        Task("nih-findings", str(MANIFEST_DIR / "nih-cxr14.toml"), NIH_FINDINGS, lambda item: None,
             multilabel=True, description="NIH ChestX-ray14: each of 14 findings against a normal-study prompt"),
        Task("roco-modality", "roco", ROCO_MODALITIES, _roco_modality, template_set="none",
             description="ROCO: coarse modality (CT, MRI, ultrasound, radiograph, angiography) from caption keyword rules"),
    )
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(name, list(TASKS)) from None


# --- any manifest with a label field ---------------------------------------------------------------------

ITEM_FIELDS = ("modality", "licence", "split")  # Item attributes usable as a label field besides extra and labels
_SEPARATORS = re.compile(r"[/|_;]+")


def field_value(item: Item, field_name: str) -> str | None:
    """An item's value for ``field_name``: its extra metadata of that name, an Item attribute (modality ...), or
    for "labels" its labels joined with "/" (one class per distinct label set)."""
    value = item.extra.get(field_name)
    if value in (None, "") and field_name in ITEM_FIELDS:
        value = getattr(item, field_name)
    if value in (None, "") and field_name in ("labels", "label"):
        value = "/".join(item.labels) if item.labels else None
    value = str(value).strip() if value not in (None, "") else None
    return value or None


def default_phrase(value: str) -> str:
    """"Pneumonia/Viral/COVID-19" -> "pneumonia viral covid-19": separators become spaces."""
    return _SEPARATORS.sub(" ", value).strip().lower()


def manifest_task(manifest: str, label_field: str, items: list[Item], prompts: dict[str, str] | None = None,
                  min_class_size: int = 5) -> Task:
    """A single-label task over ``items`` (read from ``manifest``): one class per value of ``label_field`` held
    by at least ``min_class_size`` items with an image; ``prompts`` overrides the phrase of a class."""
    from collections import Counter

    counts = Counter(field_value(it, label_field) for it in items if it.image_path is not None)
    counts.pop(None, None)
    kept = sorted(value for value, n in counts.items() if n >= min_class_size)
    if len(kept) < 2:
        raise BadArchive(
            f"label field {label_field!r} of {manifest} gives {len(kept)} class(es) with at least {min_class_size} "
            f"images (values seen: {dict(counts.most_common(8)) or 'none'})",
            hint="name a field every item has (a column in extra, modality, or labels) or lower --min-class-size")
    prompts = prompts or {}
    unknown = sorted(set(prompts) - set(kept))
    if unknown:
        raise BadQuery(f"--prompt names classes not in the task: {', '.join(unknown)}",
                       hint=f"classes: {', '.join(kept)}")
    classes = {value: prompts.get(value) or default_phrase(value) for value in kept}
    keep = set(kept)

    def label_of(item: Item) -> str | None:
        value = field_value(item, label_field)
        return value if value in keep else None

    return Task(f"{Path(str(manifest)).stem}:{label_field}", str(manifest), classes, label_of,
                description=f"{manifest}: {label_field} ({len(kept)} classes with >= {min_class_size} images)")


# --- the shared arithmetic (bench and `medsearch classify`) ------------------------------------------------

def class_embeddings(encoder, phrases: list[str], template_set: str) -> np.ndarray:
    """One unit vector per phrase: the mean of its template-ensemble embeddings (medsearch.prompts)."""
    from medsearch.prompts import ensemble_embedding

    return np.stack([ensemble_embedding(encoder, phrase, template_set) for phrase in phrases])


def zero_shot_logits(image_vectors: np.ndarray, class_vectors: np.ndarray, logit_scale: float) -> np.ndarray:
    """(n images, n classes) logits: the model's logit scale times the cosine similarity."""
    return logit_scale * np.asarray(image_vectors) @ np.asarray(class_vectors).T


def zero_shot_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature): T > 1 softens, T < 1 sharpens; T = 1 is the model's own scale."""
    return metrics.softmax(logits, temperature)


def review_flags(probs: np.ndarray, min_probability: float, min_margin: float):
    """Per row: (top probability, margin between the top two, needs review = either below its threshold)."""
    probs = np.asarray(probs, dtype=np.float64)
    ordered = np.sort(probs, axis=1)[:, ::-1]
    top = ordered[:, 0]
    margin = top - (ordered[:, 1] if probs.shape[1] > 1 else 0.0)
    return top, margin, (top < min_probability) | (margin < min_margin)


def age_band(age) -> str | None:
    try:
        years = int(float(age))
    except (TypeError, ValueError):
        return None
    return "<40" if years < 40 else ("40-59" if years < 60 else "60+")


SUBGROUPS: dict[str, Callable[[Item], str | None]] = {
    "sex": lambda item: (item.extra.get("sex") or None),
    "age_band": lambda item: age_band(item.extra.get("age")),
}


def subgroup_auroc(items: list[Item], labels: np.ndarray, scores: np.ndarray, min_per_class: int = 5) -> dict:
    """AUROC per subgroup value and the largest gap, for each attribute the items carry."""
    out = {}
    for attribute, value_of in SUBGROUPS.items():
        values = np.array([value_of(item) or "" for item in items])
        groups = {}
        for value in sorted(set(values) - {""}):
            mask = values == value
            pos = int(labels[mask].sum())
            if pos >= min_per_class and mask.sum() - pos >= min_per_class:
                groups[value] = {"n": int(mask.sum()), "auroc": metrics.auroc(labels[mask], scores[mask])}
        if len(groups) >= 2:
            aurocs = [g["auroc"] for g in groups.values()]
            out[attribute] = {"groups": groups, "gap": float(max(aurocs) - min(aurocs))}
    return out


def _binary_report(labels: np.ndarray, scores: np.ndarray, n_boot: int, seed: int) -> dict:
    value, low, high = metrics.bootstrap_ci(metrics.auroc, labels, scores, n_boot=n_boot, seed=seed)
    return {"n_pos": int(labels.sum()), "n": int(len(labels)), "auroc": value, "auroc_ci": [low, high],
            "sensitivity_at_95_specificity": metrics.sensitivity_at_specificity(labels, scores, 0.95)}


def evaluate_single_label(task: Task, items: list[Item], image_vectors: np.ndarray, class_vectors: np.ndarray,
                          logit_scale: float, val: tuple[np.ndarray, np.ndarray] | None, n_boot: int, seed: int,
                          bins: int = 10) -> dict:
    """``val`` = (val logits, val class indices) for fitting the temperature; None leaves T = 1."""
    names = list(task.classes)
    y = np.array([names.index(task.label_of(item)) for item in items])
    logits = zero_shot_logits(image_vectors, class_vectors, logit_scale)
    probs = zero_shot_probabilities(logits)
    predicted = probs.argmax(axis=1)
    acc, acc_low, acc_high = metrics.bootstrap_ci(np.mean, (predicted == y).astype(float), n_boot=n_boot, seed=seed)
    per_class = {}
    for c, name in enumerate(names):
        if 0 < (y == c).sum() < len(y):
            per_class[name] = _binary_report(y == c, probs[:, c], n_boot, seed)
    report = {
        "classes": names,
        "n": int(len(y)),
        "class_counts": {name: int((y == c).sum()) for c, name in enumerate(names)},
        "accuracy": acc, "accuracy_ci": [acc_low, acc_high],
        "per_class": per_class,
        "macro_auroc": float(np.nanmean([r["auroc"] for r in per_class.values()])) if per_class else float("nan"),
    }
    temperature = metrics.fit_temperature(*val) if val is not None and len(val[1]) else 1.0
    scaled = zero_shot_probabilities(logits, temperature)
    report["calibration"] = {
        "bins": bins,
        "temperature": temperature,
        "temperature_fitted_on": "val" if val is not None and len(val[1]) else None,
        "ece_before": metrics.expected_calibration_error(probs, y, bins),
        "ece_after": metrics.expected_calibration_error(scaled, y, bins),
        "nll_before": metrics.negative_log_likelihood(logits, y),
        "nll_after": metrics.negative_log_likelihood(logits, y, temperature),
        "reliability_before": metrics.reliability_bins(probs, y, bins),
        "reliability_after": metrics.reliability_bins(scaled, y, bins),
    }
    if len(names) == 2:  # subgroup gaps on the positive (second) class score
        report["subgroups"] = subgroup_auroc(items, y == 1, probs[:, 1])
    return report


def evaluate_multilabel(task: Task, items: list[Item], image_vectors: np.ndarray, class_vectors: np.ndarray,
                        reference_vector: np.ndarray, n_boot: int, seed: int) -> dict:
    scores = image_vectors @ class_vectors.T - (image_vectors @ reference_vector)[:, None]
    per_class, too_few = {}, {}
    for c, name in enumerate(task.classes):
        labels = np.array([name in item.labels for item in items])
        if MIN_POSITIVES <= labels.sum() <= len(labels) - MIN_POSITIVES:
            per_class[name] = _binary_report(labels, scores[:, c], n_boot, seed)
        else:
            too_few[name] = int(labels.sum())
    any_finding = np.array([bool(item.labels) and item.labels != [NORMAL_LABEL] for item in items])
    return {
        "classes": list(task.classes), "n": len(items), "per_class": per_class,
        "positives_below_minimum": {"min_positives": MIN_POSITIVES, "classes": too_few},
        "macro_auroc": float(np.nanmean([r["auroc"] for r in per_class.values()])) if per_class else float("nan"),
        "subgroups_any_finding_max_score": subgroup_auroc(items, any_finding, scores.max(axis=1)),
    }


def run_zeroshot(task_name: str, encoder, root: str | None = None, split: str = "test", val_split: str = "val",
                 template_set: str | None = None, batch_size: int = 64, n_boot: int = 1000, seed: int = 0,
                 show_progress: bool = True, archive=None) -> dict:
    """A built-in task by name."""
    from medsearch.archives import open_archive

    task = get_task(task_name)
    archive = archive or open_archive(task.manifest, root)
    return run_task(task, encoder, list(archive.items()), archive, split, val_split, template_set, batch_size,
                    n_boot, seed, show_progress)


def run_manifest_zeroshot(manifest: str, label_field: str, encoder, root: str | None = None, split: str = "test",
                          val_split: str = "val", template_set: str | None = None, prompts: dict | None = None,
                          min_class_size: int = 5, batch_size: int = 64, n_boot: int = 1000, seed: int = 0,
                          show_progress: bool = True) -> dict:
    """Any archive manifest with a label field. An archive without splits is evaluated whole (split "all"),
    with no temperature fitted (T = 1)."""
    from medsearch.archives import open_archive

    archive = open_archive(manifest, root)
    items = list(archive.items())
    task = manifest_task(manifest, label_field, items, prompts, min_class_size)
    if not any(it.split for it in items):
        split, val_split = "all", None
    result = run_task(task, encoder, items, archive, split, val_split, template_set, batch_size, n_boot, seed,
                      show_progress)
    return {**result, "manifest": str(manifest), "label_field": label_field, "min_class_size": min_class_size}


def _in_split(item: Item, split: str | None) -> bool:
    return split == "all" or item.split == split


def run_task(task: Task, encoder, items: list[Item], archive, split: str = "test", val_split: str | None = "val",
             template_set: str | None = None, batch_size: int = 64, n_boot: int = 1000, seed: int = 0,
             show_progress: bool = True) -> dict:
    from medsearch.eval.embedding import embed_items

    template_set = template_set or task.template_set
    usable = [it for it in items
              if it.image_path is not None and (task.multilabel and it.labels or task.label_of(it) is not None)]
    test_items = [it for it in usable if _in_split(it, split)]
    val_items = [it for it in usable if val_split and it.split == val_split] if not task.multilabel else []
    emb = embed_items(test_items + val_items, encoder, batch_size=batch_size, texts=False, show_progress=show_progress)
    is_test = np.array([_in_split(it, split) for it in emb.items], dtype=bool)
    test = [it for it, t in zip(emb.items, is_test) if t]
    class_vectors = class_embeddings(encoder, list(task.classes.values()), template_set)
    common = {"benchmark": "zeroshot", "task": task.name, "description": task.description,
              "model_id": encoder.model_id, "split": split, "template_set": template_set,
              "prompts": task.classes,
              "skipped": [{"where": s.where, "reason": s.reason, "stage": s.stage}
                          for s in list(getattr(archive, "skipped", [])) + emb.skipped]}
    if task.multilabel:
        reference = class_embeddings(encoder, [task.reference_phrase], template_set)[0]
        body = evaluate_multilabel(task, test, emb.image_vectors[is_test], class_vectors, reference, n_boot, seed)
        return {**common, "reference_prompt": task.reference_phrase, **body}
    names = list(task.classes)
    val_vectors = emb.image_vectors[~is_test]
    val_items_kept = [it for it, t in zip(emb.items, is_test) if not t]
    val = None
    if val_items_kept:
        val = (zero_shot_logits(val_vectors, class_vectors, encoder.logit_scale),
               np.array([names.index(task.label_of(it)) for it in val_items_kept]))
    body = evaluate_single_label(task, test, emb.image_vectors[is_test], class_vectors, encoder.logit_scale, val,
                                 n_boot, seed)
    return {**common, "val_split": val_split, "val_n": len(val_items_kept), "logit_scale": encoder.logit_scale,
            **body}
