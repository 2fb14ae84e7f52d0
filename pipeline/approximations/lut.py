"""`lut`: keep the TFLite GELU op; its int8 kernel is a 256-entry lookup table of exact GELU."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation, gelu_exact


def _keras_gelu(x: Any) -> Any:
    from keras import activations

    return activations.gelu(x, approximate=False)


def _reference(x: np.ndarray) -> np.ndarray:
    return gelu_exact(x)


APPROXIMATION = Approximation(
    name="lut",
    summary="TFLite GELU op; int8 kernel is a 256-entry lookup table of exact GELU",
    reference=_reference,
    keras_fn=_keras_gelu,
    int8_ops=frozenset({"GELU"}),
    uses_gelu_op=True,
    float_error=(1e-6, 1e-6),
    keras_name="lut_gelu",
)
