"""What every GELU approximation provides, and the exact GELU it is measured against."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_exact(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x), in float64."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """The tanh form of GELU (Hendrycks and Gimpel), in float64."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


@dataclass(frozen=True)
class Approximation:
    """One GELU replacement: its float reference, its Keras form and what it lowers to in TFLite.

    `keras_fn` is what replaces GELU inside the Keras model; it is registered with Keras under
    `gelu_edge>{keras_name}` so the replaced model saves and loads. `int8_ops` is the set of TFLite
    builtin ops the int8 conversion of a single-op model must contain, and nothing else.
    `float_error` is the documented (rms, max) error bound against exact GELU over [-4, 4].
    """

    name: str
    summary: str
    reference: Callable[[np.ndarray], np.ndarray]
    keras_fn: Callable[[Any], Any]
    int8_ops: frozenset[str]
    uses_gelu_op: bool
    float_error: tuple[float, float]
    keras_name: str | None = None
