"""`sigmoid`: x * sigmoid(1.702 x) (Hendrycks and Gimpel's sigmoid form)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation

SLOPE = 1.702


def _keras_sigmoid_gelu(x: Any) -> Any:
    from keras import ops

    return x * ops.sigmoid(x * SLOPE)


def _reference(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / (1.0 + np.exp(-SLOPE * x))


APPROXIMATION = Approximation(
    name="sigmoid",
    summary="x * sigmoid(1.702 x)",
    reference=_reference,
    keras_fn=_keras_sigmoid_gelu,
    int8_ops=frozenset({"MUL", "LOGISTIC"}),
    uses_gelu_op=False,
    float_error=(0.0125, 0.021),
    keras_name="sigmoid_gelu",
)
