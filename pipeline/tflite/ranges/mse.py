"""`mse`: the range that minimises the expected squared error of int8 quantization on the
tensor's own values: clipping error outside the range plus rounding noise (step^2 / 12) inside,
over a grid of candidate ends."""

from __future__ import annotations

import numpy as np

from pipeline.tflite.ranges.base import LEVELS, Method, centres, keep_zero

CANDIDATES = 64  # candidate positions of each end, from 2 % to 100 % of the recorded one


def pick(counts: np.ndarray, lo: float, hi: float, p: float | None) -> tuple[float, float]:
    if counts.sum() == 0 or hi <= lo:
        return lo, hi
    x = centres(counts, lo, hi)
    n = counts.astype(np.float64)
    highs = np.unique(np.r_[np.linspace(max(hi, 0.0) * 0.02, max(hi, 0.0), CANDIDATES), hi])
    lows = np.unique(np.r_[np.linspace(min(lo, 0.0) * 0.02, min(lo, 0.0), CANDIDATES), lo])
    above = np.array([np.sum(n * np.clip(x - u, 0, None) ** 2) for u in highs])
    below = np.array([np.sum(n * np.clip(v - x, 0, None) ** 2) for v in lows])
    noise = n.sum() * ((highs[None, :] - lows[:, None]) / LEVELS) ** 2 / 12.0
    i, j = np.unravel_index(int(np.argmin(below[:, None] + above[None, :] + noise)),
                            noise.shape)
    return keep_zero(float(lows[i]), float(highs[j]))


METHOD = Method(name="mse", summary="the range with the least expected int8 error (clipping "
                "plus rounding) on the tensor's values", pick=pick)
