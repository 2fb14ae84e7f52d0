"""Registry of parity metrics: how far a model's outputs are from the float reference.

Every metric is a small function of (reference, test, output scale); all are computed in float64
from the arrays saved in parity_samples.npz, so anyone can recompute them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from pipeline.records.parity import Metrics

Metric = Callable[[np.ndarray, np.ndarray, float | None], float | None]
METRICS: dict[str, Metric] = {}


def metric(fn: Metric) -> Metric:
    """Register a metric under its function name."""
    METRICS[fn.__name__] = fn
    return fn


def _err(ref: np.ndarray, test: np.ndarray) -> np.ndarray:
    return np.asarray(test, np.float64) - np.asarray(ref, np.float64)


@metric
def max_abs_error(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float:
    """Largest absolute difference."""
    return float(np.max(np.abs(_err(ref, test))))


@metric
def mean_abs_error(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float:
    """Mean absolute difference."""
    return float(np.mean(np.abs(_err(ref, test))))


@metric
def rmse(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float:
    """Root mean squared difference."""
    return float(np.sqrt(np.mean(_err(ref, test) ** 2)))


@metric
def snr_db(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float | None:
    """10 log10(sum ref^2 / sum err^2); None (infinite) when the outputs are identical."""
    noise = float(np.sum(_err(ref, test) ** 2))
    signal = float(np.sum(np.asarray(ref, np.float64) ** 2))
    if noise == 0.0:
        return None
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


@metric
def cosine(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float:
    """Cosine similarity of the flattened outputs."""
    a = np.asarray(ref, np.float64).ravel()
    b = np.asarray(test, np.float64).ravel()
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))


@metric
def max_error_lsb(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float | None:
    """Largest absolute difference in units of the quantized output's scale (None for float)."""
    if not scale:
        return None
    return max_abs_error(ref, test, scale) / scale


def compare(ref: np.ndarray, test: np.ndarray, scale: float | None) -> Metrics:
    """Every registered metric of `test` against `ref`."""
    return Metrics(**{name: fn(ref, test, scale) for name, fn in METRICS.items()})
