"""`poly`: I-BERT's i-GELU (Kim et al. 2021), erf replaced by a clipped second-order polynomial.

i-GELU(x) = x/2 (1 + L(x/sqrt2)), L(u) = sign(u) [a (min(|u|, -b) + b)^2 + 1], a = -0.2888,
b = -1.769. Since x sign(x) = |x|, this is x/2 + |x|/2 (a (min(|x|/sqrt2, -b) + b)^2 + 1): no
sign and no ABS op (|x| = relu(x) + relu(-x)), so the Edge TPU can run it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation

A = -0.2888
B = -1.769


def _keras_poly_gelu(x: Any) -> Any:
    from keras import ops

    t = ops.relu(x) + ops.relu(x * -1.0)
    u = ops.minimum(t * (1.0 / math.sqrt(2.0)), -B) + B
    return x * 0.5 + t * 0.5 * (u * u * A + 1.0)


def _reference(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    u = x / math.sqrt(2.0)
    erf_approx = np.sign(u) * (A * (np.minimum(np.abs(u), -B) + B) ** 2 + 1.0)
    return 0.5 * x * (1.0 + erf_approx)


APPROXIMATION = Approximation(
    name="poly",
    summary="I-BERT i-GELU, second-order polynomial erf (a=-0.2888, b=-1.769), no ABS",
    reference=_reference,
    keras_fn=_keras_poly_gelu,
    int8_ops=frozenset({"RELU", "MUL", "ADD", "MINIMUM"}),
    uses_gelu_op=False,
    float_error=(0.0085, 0.019),
    keras_name="poly_gelu",
)
