"""`relu-corr`: gelu-edge's own int8 GELU for the Edge TPU op set, as accurate as the lookup table.

GELU(x) = relu(x) - |x| Phi(-|x|). The correction |x| Phi(-|x|) is at most 0.17, so it
quantizes finely, and relu(x) is exact on the input grid. Phi(-t) is approximated by
sigmoid(t (A + B t)); |x| is relu(x) + relu(-x) (no ABS, which the Edge TPU lacks), and there is
no MINIMUM/MAXIMUM clip (those share quantization between input and output and can narrow the
model's input range). A and B were fitted on the int8 grid, not in float: over all 256 int8
input codes of a single-op model calibrated on [-8, 8], the neighbourhood of (A, B) keeps the
max error under 0.72 LSB (measured by `gelu-edge approximations`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation

A = -1.4467
B = -0.24


def _keras_relu_corr(x: Any) -> Any:
    from keras import ops

    pos = ops.relu(x)
    t = pos + ops.relu(x * -1.0)
    return pos - t * ops.sigmoid(t * (t * B + A))


def _reference(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    t = np.abs(x)
    return np.maximum(x, 0.0) - t / (1.0 + np.exp(-t * (A + B * t)))


APPROXIMATION = Approximation(
    name="relu-corr",
    summary="relu(x) - |x| sigmoid(|x| (A + B|x|)); Edge-TPU ops only, int8 error of the LUT",
    reference=_reference,
    keras_fn=_keras_relu_corr,
    int8_ops=frozenset({"RELU", "MUL", "ADD", "LOGISTIC", "SUB"}),
    uses_gelu_op=False,
    float_error=(0.0035, 0.007),
    keras_name="relu_corr_gelu",
)
