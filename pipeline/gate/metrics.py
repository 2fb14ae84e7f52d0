"""Registry of parity metrics: how far a model's outputs are from the float reference.

Every metric is a small function of (reference, test, output scale); all are computed in float64
from the arrays saved in parity_samples.npz, so anyone can recompute them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from pipeline.records.parity import Metrics
from pipeline.registry import Registry

Metric = Callable[[np.ndarray, np.ndarray, float | None], float | None]
METRICS: Registry[Metric] = Registry("metric")


def metric(fn: Metric) -> Metric:
    """Register a metric under its function name."""
    return METRICS.add(fn.__name__, fn)


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


def worst_snr_db(reference: list[np.ndarray], got: list[np.ndarray]) -> float | None:
    """The lowest SNR over several outputs, each flattened per sample; None when every output
    is identical to its reference."""
    values = [snr_db(r.reshape(len(r), -1), g.reshape(len(g), -1), None)
              for r, g in zip(reference, got)]
    finite = [v for v in values if v is not None]
    return min(finite) if finite else None


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


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(-1, 1)


@metric
def sample_cosine(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float | None:
    """Mean over samples of each sample's cosine similarity (embeddings); None when a sample
    holds one value."""
    r, q = _rows(ref), _rows(test)
    if r.shape[1] < 2:
        return None
    norms = np.linalg.norm(r, axis=1) * np.linalg.norm(q, axis=1)
    dots = np.sum(r * q, axis=1)
    per = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0),
                   np.all(r == q, axis=1).astype(np.float64))
    return float(np.mean(per))


def nearest_neighbours(a: np.ndarray) -> np.ndarray:
    """Each sample's nearest other sample by cosine similarity."""
    rows = _rows(a)
    unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argmax(similarity, axis=1)


@metric
def neighbour_agreement(ref: np.ndarray, test: np.ndarray, scale: float | None) -> float | None:
    """Share of samples whose nearest neighbour (cosine, among the samples compared) is the
    same in both (retrieval with embeddings); None under 3 samples or one value per sample."""
    r = _rows(ref)
    if len(r) < 3 or r.shape[1] < 2:
        return None
    return float(np.mean(nearest_neighbours(ref) == nearest_neighbours(test)))


def compare(ref: np.ndarray, test: np.ndarray, scale: float | None) -> Metrics:
    """Every registered metric of `test` against `ref`."""
    return Metrics(**{name: fn(ref, test, scale) for name, fn in METRICS.items()})
