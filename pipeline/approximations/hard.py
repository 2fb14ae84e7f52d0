"""`hard`: h-GELU, x * relu6(1.702 x + 3) / 6 (I-BERT's Table 1 baseline)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation

SLOPE = 1.702


def _keras_hard_gelu(x: Any) -> Any:
    from keras import ops

    return x * ops.relu6(x * SLOPE + 3.0) * (1.0 / 6.0)


def _reference(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x * np.clip(SLOPE * x + 3.0, 0.0, 6.0) / 6.0


APPROXIMATION = Approximation(
    name="hard",
    summary="h-GELU: x * relu6(1.702 x + 3) / 6",
    reference=_reference,
    keras_fn=_keras_hard_gelu,
    int8_ops=frozenset({"MUL", "ADD"}),
    uses_gelu_op=False,
    float_error=(0.032, 0.07),
    keras_name="hard_gelu",
)
