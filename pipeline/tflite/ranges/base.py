"""What a calibration method is: from a tensor's histogram over the calibration samples (and the
min/max TFLite's calibrator recorded), the range its int8 scale should cover."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEVELS = 255  # int8 steps across a range


@dataclass(frozen=True)
class Method:
    """A calibration method: its name and the range it picks for one tensor."""

    name: str
    summary: str
    # (counts over equal bins on [lo, hi], lo, hi, parameter) -> (new lo, new hi)
    pick: Callable[[np.ndarray, float, float, float | None], tuple[float, float]]
    needs_histograms: bool = True
    default_parameter: float | None = None


def centres(counts: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The centre of each bin."""
    return lo + (np.arange(len(counts)) + 0.5) * (hi - lo) / len(counts)


def keep_zero(lo: float, hi: float) -> tuple[float, float]:
    """A range that contains 0 (TFLite's int8 zero point must be representable)."""
    return min(lo, 0.0), max(hi, 0.0)
