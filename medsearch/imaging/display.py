"""Map any numeric pixel array to 8-bit display values."""

from __future__ import annotations

import numpy as np

LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5  # robust auto-window: ignores a few hot or dead pixels


def to_uint8(arr: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Linear map [low, high] -> [0, 255], clipped. Without bounds: the 0.5-99.5 percentile range."""
    arr = np.asarray(arr, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return np.zeros(arr.shape, dtype=np.uint8)
    if low is None or high is None:
        low, high = np.percentile(finite, [LOW_PERCENTILE, HIGH_PERCENTILE])
        if high <= low:  # near-constant image: fall back to the full range
            low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.full(arr.shape, 0 if low <= 0 else 255, dtype=np.uint8)
    scaled = (np.nan_to_num(arr, nan=low) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
