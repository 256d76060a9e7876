"""Map any numeric pixel array to 8-bit display values."""

from __future__ import annotations

import numpy as np

LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5  # robust auto-window: ignores a few hot or dead pixels
PERCENTILE_SAMPLE = 1_000_000  # percentiles from a regular subsample: same window, a fraction of the time


def auto_window(arr: np.ndarray) -> tuple[float, float] | None:
    """(low, high) = the 0.5 and 99.5 percentiles (min/max when those coincide); None for no finite values."""
    flat = arr.ravel()
    sample = flat[:: max(1, flat.size // PERCENTILE_SAMPLE)]
    if np.issubdtype(sample.dtype, np.floating):
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    low, high = np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if high <= low:  # near-constant image: fall back to the full range
        low, high = sample.min(), sample.max()
    return float(low), float(high)


def to_uint8(arr: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Linear map [low, high] -> [0, 255], clipped. Without bounds: the auto window (0.5-99.5 percentiles)."""
    arr = np.asarray(arr)
    if low is None or high is None:
        window = auto_window(arr)
        if window is None:
            return np.zeros(arr.shape, dtype=np.uint8)
        low, high = window
    if high <= low:
        return np.full(arr.shape, 0 if low <= 0 else 255, dtype=np.uint8)
    values = arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    values -= np.float32(low)
    values *= np.float32(255.0 / (high - low))
    np.clip(values, 0, 255, out=values)
    return np.rint(values, out=values).astype(np.uint8)
