"""Zero-shot classification of the user's own images against labels they name.

    import medsearch
    results = medsearch.classify(["chest.dcm", "film.png"], labels=["normal chest radiograph", "pneumonia"])
    for r in results:
        print(r.source, r.label, r.probability, r.needs_review, r.error)

    clf = medsearch.Classifier(["normal chest radiograph", "pneumonia"])   # embeds the label prompts once
    clf.classify(["a.png", "b.jpg"])

Each label is normalised and expanded like a query (``PTX`` -> pneumothorax) and embedded through a prompt-template
ensemble (medsearch.prompts); the arithmetic (logits, softmax through a temperature, review flags) is
medsearch.eval.zeroshot's, shared with ``medsearch bench zeroshot``.

Probabilities are ``softmax(logit_scale x cosine / T)``. T comes from, in order: ``temperature=``, a
``bench zeroshot`` result file (``calibration=``, its fitted temperature; the model must match), else
``DEFAULT_TEMPERATURE``. A result ``needs_review`` when its top probability is under ``min_probability`` or the
margin between the top two is under ``min_margin``. The defaults were chosen on validation data
(NIH ChestX-ray14 val, normal vs abnormal; ROCO val, five modalities) by benchmarks/classify_thresholds.py;
results in benchmarks/results/classify_thresholds.json, summary in benchmarks/README.md.

A file that cannot be read (missing, corrupt, not an image, too large) gives a result with ``error`` set and no
label; the other files are still classified.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from medsearch.errors import BadCalibration, BadItem, BadQuery

# Chosen on val by benchmarks/classify_thresholds.py (medsearch-default@85430f6c0ee6, results in
# benchmarks/results/classify_thresholds.json): T minimises the pooled NLL of the NIH normal/abnormal and ROCO
# modality val tasks (fitted 1.402; per task 25.4 and 0.88); the thresholds are the loosest pair on a 0.05 grid
# whose un-flagged val predictions reach 90% accuracy (pooled): 25.1% of val predictions pass with 90.8% accuracy
# and 92% of the errors are flagged (test, held out: 24.2% pass at 96.5%; 97% of errors flagged). Other models:
# pass --temperature or --calibration and your own thresholds.
DEFAULT_TEMPERATURE = 1.40
DEFAULT_MIN_PROBABILITY = 0.0
DEFAULT_MIN_MARGIN = 0.75
DEFAULT_TEMPLATE_SET = "clinical"
BATCH_SIZE = 32


NOT_READ = "not classified: the file could not be read"  # the review reason of a result with an error


@dataclass
class Classification:
    """One image's result. ``error`` is set (and ``label`` None) when the file could not be classified."""

    source: str
    label: str | None = None
    probability: float | None = None
    margin: float | None = None
    needs_review: bool = True
    review_reasons: list[str] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)  # label -> probability, best first
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _source_name(image) -> str:
    if isinstance(image, (str, Path)):
        return str(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return f"<{len(image)} bytes>"
    return f"<{type(image).__name__}>"


def _load(image):
    """A path, bytes or a PIL image -> an RGB PIL image (ImageLoadError for a bad file)."""
    from PIL import Image

    from medsearch.imaging import load_image, load_image_bytes

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (bytes, bytearray, memoryview)):
        return load_image_bytes(bytes(image))
    return load_image(Path(image))


def temperature_from(calibration, model_id: str | None = None) -> float:
    """The fitted temperature in a ``bench zeroshot`` result (a path or the loaded dict); its model must be
    ``model_id`` when given (a temperature fitted for one model means nothing for another)."""
    where = str(calibration) if isinstance(calibration, (str, Path)) else "calibration"
    if isinstance(calibration, (str, Path)):
        try:
            calibration = json.loads(Path(calibration).read_text("utf-8"))
        except OSError as exc:
            raise BadCalibration(f"cannot read {where}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise BadCalibration(f"{where} is not JSON: {exc}") from exc
    cal = calibration.get("calibration") if isinstance(calibration, dict) else None
    temperature = cal.get("temperature") if isinstance(cal, dict) else None
    if not isinstance(temperature, (int, float)) or not temperature > 0 or cal.get("temperature_fitted_on") is None:
        raise BadCalibration(f"{where} holds no fitted temperature",
                             hint="pass the JSON written by `medsearch bench zeroshot` for a task with a val split")
    if model_id and calibration.get("model_id") and calibration["model_id"] != model_id:
        raise BadCalibration(f"{where} was fitted for model {calibration['model_id']}, not {model_id}",
                             hint="run `medsearch bench zeroshot` with this model, or pass --temperature")
    return float(temperature)


def _clean_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str):
        labels = [labels]
    cleaned = [str(label).strip() for label in labels or []]
    if any(not label for label in cleaned):
        raise BadQuery("a label is empty", hint='give each label as words, e.g. --label "pneumonia"')
    seen = {}
    for label in cleaned:
        seen.setdefault(label.lower(), label)
    if len(seen) < 2:
        raise BadQuery(f"zero-shot classification needs at least two different labels (got {cleaned})",
                       hint='e.g. --label "normal chest radiograph" --label "pneumonia"')
    if len(seen) != len(cleaned):
        raise BadQuery("the same label is given twice", hint="give each label once")
    return cleaned


class Classifier:
    """Labels embedded once; classify any number of images against them."""

    def __init__(self, labels: Sequence[str], encoder=None, model: str | None = None, device: str = "auto",
                 template_set: str = DEFAULT_TEMPLATE_SET, expand: bool = True, temperature: float | None = None,
                 calibration=None, min_probability: float | None = None, min_margin: float | None = None):
        from medsearch.eval.zeroshot import class_embeddings
        from medsearch.prompts import prepare_query, templates

        self.labels = _clean_labels(labels)
        templates(template_set)  # an unknown template set fails before the model loads
        if temperature is not None and not temperature > 0:
            raise BadQuery(f"temperature must be positive (got {temperature})")
        if encoder is None:
            from medsearch.models import load_encoder

            encoder = load_encoder(model, device=device)
        self.encoder = encoder
        if temperature is not None:
            self.temperature, self.temperature_source = float(temperature), "given"
        elif calibration is not None:
            self.temperature = temperature_from(calibration, getattr(encoder, "model_id", None))
            self.temperature_source = str(calibration) if isinstance(calibration, (str, Path)) else "calibration"
        else:
            self.temperature, self.temperature_source = DEFAULT_TEMPERATURE, "default"
        self.min_probability = DEFAULT_MIN_PROBABILITY if min_probability is None else float(min_probability)
        self.min_margin = DEFAULT_MIN_MARGIN if min_margin is None else float(min_margin)
        self.template_set = template_set
        self.prompts = {label: prepare_query(label, expand=expand) for label in self.labels}
        self.class_vectors = class_embeddings(encoder, list(self.prompts.values()), template_set)

    def settings(self) -> dict:
        return {"model_id": self.encoder.model_id, "labels": self.labels, "prompts": self.prompts,
                "template_set": self.template_set, "temperature": self.temperature,
                "temperature_source": self.temperature_source,
                "thresholds": {"min_probability": self.min_probability, "min_margin": self.min_margin}}

    def classify(self, images: Iterable, progress: Callable[[int], None] | None = None) -> list[Classification]:
        """One Classification per input, in order; unreadable files carry ``error`` and do not stop the rest.
        ``progress(done)`` is called after each batch with the number of inputs handled so far."""
        images = list(images)
        results = [Classification(_source_name(image)) for image in images]
        transform = self.encoder.image_transform()
        pending: list[int] = []
        arrays: list[np.ndarray] = []
        for i, image in enumerate(images):
            try:
                arrays.append(transform(_load(image)))
            except BadItem as exc:
                results[i].error = getattr(exc, "reason", None) or str(exc)
                results[i].review_reasons = [NOT_READ]
                continue
            pending.append(i)
            if len(pending) == BATCH_SIZE:
                self._score(np.stack(arrays), [results[j] for j in pending])
                pending, arrays = [], []
                if progress is not None:
                    progress(i + 1)
        if pending:
            self._score(np.stack(arrays), [results[j] for j in pending])
        if progress is not None:
            progress(len(images))
        return results

    __call__ = classify

    def _score(self, batch: np.ndarray, out: list[Classification]) -> None:
        from medsearch.eval.zeroshot import review_flags, zero_shot_logits, zero_shot_probabilities

        vectors = self.encoder.encode_image_batch(batch)
        probs = zero_shot_probabilities(zero_shot_logits(vectors, self.class_vectors, self.encoder.logit_scale),
                                        self.temperature)
        top, margin, review = review_flags(probs, self.min_probability, self.min_margin)
        for row, result in enumerate(out):
            order = np.argsort(-probs[row], kind="stable")
            result.label = self.labels[order[0]]
            result.probability, result.margin = float(top[row]), float(margin[row])
            result.probabilities = {self.labels[c]: float(probs[row, c]) for c in order}
            result.needs_review = bool(review[row])
            result.review_reasons = (
                ([f"top probability {top[row]:.2f} < {self.min_probability:g}"] if top[row] < self.min_probability else [])
                + ([f"margin {margin[row]:.2f} < {self.min_margin:g}"] if margin[row] < self.min_margin else []))


def classify(images: Iterable, labels: Sequence[str], **options) -> list[Classification]:
    """Classify ``images`` (paths, bytes or PIL images) against ``labels``; options as for Classifier."""
    return Classifier(labels, **options).classify(images)
