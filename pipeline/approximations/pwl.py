"""`pwl`: piecewise-linear GELU as a sum of ReLUs with fitted slopes; `pwl:N` picks N knots.

f(x) = sum_i c_i relu(x - k_i), knots evenly spaced on [KNOT_LO, KNOT_HI]; f is 0 left of the
first knot and the slopes are least-squares fitted to exact GELU on [-8, 8].
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation, gelu_exact

DEFAULT_KNOTS = 9
KNOT_LO, KNOT_HI = -3.5, 2.5
FIT_RANGE = (-8.0, 8.0)


@functools.cache
def fit(knots: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(knot positions, slopes) least-squares fitted to exact GELU."""
    k = np.linspace(KNOT_LO, KNOT_HI, knots)
    x = np.linspace(*FIT_RANGE, 4001)
    basis = np.maximum(x[:, None] - k[None, :], 0.0)
    coef, *_ = np.linalg.lstsq(basis, gelu_exact(x), rcond=None)
    return tuple(float(v) for v in k), tuple(float(v) for v in coef)


def make(knots: int = DEFAULT_KNOTS) -> Approximation:
    """The `pwl` approximation with `knots` knots."""
    positions, slopes = fit(knots)

    def keras_fn(x: Any) -> Any:
        from keras import ops

        out = ops.relu(x - positions[0]) * slopes[0]
        for k, c in zip(positions[1:], slopes[1:]):
            out = out + ops.relu(x - k) * c
        return out

    def reference(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.maximum(x[..., None] - np.array(positions), 0.0) @ np.array(slopes)

    name = "pwl" if knots == DEFAULT_KNOTS else f"pwl:{knots}"
    keras_fn.__name__ = f"pwl_gelu_{knots}"
    return Approximation(
        name=name,
        summary=f"piecewise linear, {knots} ReLU knots on [{KNOT_LO}, {KNOT_HI}], fitted slopes",
        reference=reference,
        keras_fn=keras_fn,
        int8_ops=frozenset({"SUB", "ADD", "RELU", "MUL"}),
        uses_gelu_op=False,
        float_error=(0.008, 0.04) if knots >= DEFAULT_KNOTS else (0.1, 0.2),
        keras_name=f"pwl_gelu_{knots}",
    )


APPROXIMATION = make()
