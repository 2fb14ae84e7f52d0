"""`tanh-clip`: the tanh form with its cube computed on x clipped to [-CLIP, CLIP].

The clip keeps the cube's int8 range small (x^3 over [-8, 8] would span +-512). It is written
with ReLUs, x - relu(x - C) + relu(-x - C), not MINIMUM/MAXIMUM: those share quantization
between input and output, and clipping the input that way narrows the model's input range to
[-C, C]. 0.5 x (1 + tanh(z)) is written as x sigmoid(2z), which also keeps the converter from
fusing the formula back into the GELU op.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation

CLIP = 4.0
K = math.sqrt(2.0 / math.pi)
C3 = 0.044715


def _keras_tanh_clip_gelu(x: Any) -> Any:
    from keras import ops

    xc = x - ops.relu(x - CLIP) + ops.relu(x * -1.0 - CLIP)
    return x * ops.sigmoid(x * (2.0 * K) + xc * xc * xc * (2.0 * K * C3))


def _reference(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    xc = np.clip(x, -CLIP, CLIP)
    return 0.5 * x * (1.0 + np.tanh(K * (x + C3 * xc**3)))


APPROXIMATION = Approximation(
    name="tanh-clip",
    summary="tanh form, cube on x clipped to [-4, 4] with ReLUs, as x sigmoid(2z)",
    reference=_reference,
    keras_fn=_keras_tanh_clip_gelu,
    int8_ops=frozenset({"MUL", "ADD", "SUB", "RELU", "LOGISTIC"}),
    uses_gelu_op=False,
    float_error=(0.0003, 0.0005),
    keras_name="tanh_clip_gelu",
)
