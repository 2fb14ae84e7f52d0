"""`percentile[:P]`: clip each tensor to the P-th percentile of its values (at both ends), so a
rare outlier does not stretch the int8 step of every other value. Default P = 99.99."""

from __future__ import annotations

import numpy as np

from pipeline.tflite.ranges.base import Method, keep_zero

DEFAULT_P = 99.99


def pick(counts: np.ndarray, lo: float, hi: float, p: float | None) -> tuple[float, float]:
    share = (100.0 - (p if p is not None else DEFAULT_P)) / 100.0
    total = counts.sum()
    if total == 0 or hi <= lo:
        return lo, hi
    cumulative = np.cumsum(counts) / total
    edges = np.linspace(lo, hi, len(counts) + 1)
    low = edges[int(np.searchsorted(cumulative, share))]
    high = edges[min(int(np.searchsorted(cumulative, 1.0 - share)) + 1, len(counts))]
    return keep_zero(float(low), float(high))


METHOD = Method(name="percentile", summary="clip at the P-th percentile at both ends "
                f"(percentile:P, default {DEFAULT_P})", pick=pick, default_parameter=DEFAULT_P)
