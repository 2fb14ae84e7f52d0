"""`tanh-clip`: the tanh form with its cube computed on x clipped to [-CLIP, CLIP].

The clip keeps the cube's int8 range small (x^3 over [-8, 8] would span +-512). It is written
with ReLUs, not MINIMUM/MAXIMUM: those share quantization between input and output, and
clipping the input that way narrows the model's input range to [-C, C]. The ReLUs keep the
part of x inside the clip, y = relu(x + C) - C, then xc = C - relu(C - y), never the part
beyond it (relu(x - C)): where the calibration data never pass the clip, that part is zero on
every sample, gets a degenerate int8 range (scale ~1e-8), and tflite-runtime 2.14's SUB
prepare aborts the process on it (its output rescale factor reaches 1 or more, which its
QuantizeMultiplierSmallerThanOneExp check refuses with SIGABRT). 0.5 x (1 + tanh(z)) is
written as x sigmoid(2z), which also keeps the converter from fusing the formula back into
the GELU op.
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

    low = ops.relu(x + CLIP) - CLIP  # max(x, -C)
    xc = CLIP - ops.relu(CLIP - low)  # min(max(x, -C), C)
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
