"""Symmetric InfoNCE (CLIP loss), with optional soft positives and extra negatives from a momentum queue."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_targets(label_sets: list[frozenset], weight: float) -> torch.Tensor | None:
    """(n, n) target rows: 1 on the diagonal, ``weight`` x Jaccard overlap of label sets elsewhere, row-normalised.

    Captions that share UMLS concepts are partly right answers for each other; weight 0 gives the hard identity.
    """
    n = len(label_sets)
    if weight <= 0 or n == 0:
        return None
    t = torch.eye(n)
    for i in range(n):
        a = label_sets[i]
        if not a:
            continue
        for j in range(i + 1, n):
            b = label_sets[j]
            if b:
                overlap = len(a & b) / len(a | b)
                t[i, j] = t[j, i] = weight * overlap
    return t / t.sum(1, keepdim=True)


def clip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    scale: torch.Tensor | float,
    targets: torch.Tensor | None = None,
    queue_image: torch.Tensor | None = None,
    queue_text: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy over the batch (rows L2-normalised).

    ``queue_text`` (m, d) adds m extra text negatives to every image row, ``queue_image`` likewise for texts.
    """
    n = image.shape[0]
    logits_i2t = scale * image @ text.t()
    logits_t2i = logits_i2t.t()
    if queue_text is not None and len(queue_text):
        logits_i2t = torch.cat([logits_i2t, scale * image @ queue_text.t()], dim=1)
    if queue_image is not None and len(queue_image):
        logits_t2i = torch.cat([logits_t2i, scale * text @ queue_image.t()], dim=1)
    if targets is None:
        labels = torch.arange(n, device=image.device)
        return (F.cross_entropy(logits_i2t, labels) + F.cross_entropy(logits_t2i, labels)) / 2
    return (_soft_ce(logits_i2t, targets) + _soft_ce(logits_t2i, targets.t())) / 2


def _soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets over the first n columns (queue columns get target 0)."""
    full = torch.zeros_like(logits)
    full[:, : targets.shape[1]] = targets.to(logits.device)
    return -(full * F.log_softmax(logits, dim=1)).sum(1).mean()
