"""`minmax`: the range TFLite's calibrator records, the smallest and largest value seen."""

from __future__ import annotations

import numpy as np

from pipeline.tflite.ranges.base import Method


def pick(counts: np.ndarray, lo: float, hi: float, p: float | None) -> tuple[float, float]:
    return lo, hi


METHOD = Method(name="minmax", summary="the smallest and largest value seen (TFLite's own)",
                pick=pick, needs_histograms=False)
