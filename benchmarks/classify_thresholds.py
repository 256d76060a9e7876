"""Choose `medsearch classify`'s default temperature and needs-review thresholds on validation data.

Two val tasks, classified exactly as `medsearch classify` does it (labels through prepare_query and the
"clinical" template ensemble, medsearch.classifier.Classifier):

* NIH ChestX-ray14 (64 px) val split: "normal chest radiograph with no acute findings" vs
  "abnormal chest radiograph with disease" (the nih-normal task's phrases);
* ROCO val split: five coarse modalities (the roco-modality task's phrases).

1. One temperature T minimising the summed negative log-likelihood of both val tasks (grid on log T).
2. Thresholds: over a grid of (min_probability, min_margin), the pair that keeps the most val predictions
   un-flagged (pooled over both tasks) while the un-flagged ones reach ``--target`` accuracy (pooled).
Then the same settings are reported on the test splits (held out: nothing was chosen on them).

    python benchmarks/classify_thresholds.py --data /work/shared/data --out benchmarks/results/classify_thresholds.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from medsearch.archives import open_archive
from medsearch.classifier import Classifier
from medsearch.eval import metrics
from medsearch.eval.embedding import embed_items
from medsearch.eval.zeroshot import TASKS, review_flags, zero_shot_logits, zero_shot_probabilities
from medsearch.models import load_encoder

TASK_ROOTS = {"nih-normal": "nih-cxr14-64px", "roco-modality": "roco"}
GRID_PROBABILITY = np.round(np.arange(0.0, 0.951, 0.05), 2)
GRID_MARGIN = np.round(np.arange(0.0, 0.901, 0.05), 2)


def task_logits(encoder, task_name: str, data: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    task = TASKS[task_name]
    archive = open_archive(task.manifest, data / TASK_ROOTS[task_name])
    items = [it for it in archive.items()
             if it.image_path is not None and it.split == split and task.label_of(it) is not None]
    emb = embed_items(items, encoder, texts=False, show_progress=False)
    names = list(task.classes)
    clf = Classifier(list(task.classes.values()), encoder=encoder)  # exactly the command's label embedding
    y = np.array([names.index(task.label_of(it)) for it in emb.items])
    return zero_shot_logits(emb.image_vectors, clf.class_vectors, encoder.logit_scale), y, names


def pooled_temperature(sets) -> float:
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    nll = [sum(metrics.negative_log_likelihood(lg, y, t) * len(y) for lg, y in sets) for t in grid]
    return float(grid[int(np.argmin(nll))])


def outcome(sets, temperature, p_min, m_min) -> dict:
    per, kept_all, correct_all, n_all, err_all, err_flag_all = {}, 0, 0, 0, 0, 0
    for name, (logits, y) in sets.items():
        probs = zero_shot_probabilities(logits, temperature)
        _, _, review = review_flags(probs, p_min, m_min)
        correct = probs.argmax(axis=1) == y
        kept = ~review
        per[name] = {"n": int(len(y)), "accuracy_all": float(correct.mean()),
                     "coverage": float(kept.mean()),
                     "accuracy_unflagged": float(correct[kept].mean()) if kept.any() else None,
                     "errors_flagged": float(review[~correct].mean()) if (~correct).any() else None,
                     "ece": metrics.expected_calibration_error(probs, y, 10)}
        kept_all += int(kept.sum())
        correct_all += int((correct & kept).sum())
        n_all += len(y)
        err_all += int((~correct).sum())
        err_flag_all += int((review & ~correct).sum())
    return {"min_probability": float(p_min), "min_margin": float(m_min), "per_task": per,
            "coverage": kept_all / n_all, "accuracy_unflagged": correct_all / kept_all if kept_all else None,
            "errors_flagged": err_flag_all / err_all if err_all else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--target", type=float, default=0.90, help="accuracy of the un-flagged val predictions")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/classify_thresholds.json"))
    args = parser.parse_args()

    start = time.perf_counter()
    encoder = load_encoder(args.model, device="cpu")
    val = {name: task_logits(encoder, name, args.data, "val")[:2] for name in TASK_ROOTS}
    test = {name: task_logits(encoder, name, args.data, "test")[:2] for name in TASK_ROOTS}
    temperature = pooled_temperature(list(val.values()))
    candidates = [outcome(val, temperature, p, m) for p in GRID_PROBABILITY for m in GRID_MARGIN]
    reaching = [c for c in candidates if c["accuracy_unflagged"] is not None and c["accuracy_unflagged"] >= args.target]
    chosen = max(reaching, key=lambda c: (c["coverage"], -c["min_probability"], -c["min_margin"]))
    result = {
        "benchmark": "classify_thresholds", "model_id": encoder.model_id, "target_accuracy_unflagged": args.target,
        "temperature": temperature, "temperature_fitted_on": "val (nih-normal + roco-modality, pooled NLL)",
        "per_task_temperature": {name: metrics.fit_temperature(*sets) for name, sets in val.items()},
        "chosen": {"min_probability": chosen["min_probability"], "min_margin": chosen["min_margin"]},
        "val": chosen,
        "test": outcome(test, temperature, chosen["min_probability"], chosen["min_margin"]),
        "val_at_T1_no_thresholds": outcome(val, 1.0, 0.0, 0.0),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("temperature", "per_task_temperature", "chosen")}, indent=2))
    for split in ("val", "test"):
        r = result[split]
        print(f"{split}: coverage {r['coverage']:.3f}, accuracy un-flagged {r['accuracy_unflagged']}, "
              f"errors flagged {r['errors_flagged']}; " + "; ".join(
                  f"{n}: acc {t['accuracy_all']:.3f}, coverage {t['coverage']:.3f}, acc un-flagged {t['accuracy_unflagged']}"
                  for n, t in r["per_task"].items()))


if __name__ == "__main__":
    main()
