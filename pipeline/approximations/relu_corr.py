"""`relu-corr`: gelu-edge's own int8 GELU for the Edge TPU op set, as accurate as the lookup table.

GELU(x) = relu(x) - |x| Phi(-|x|). The correction |x| Phi(-|x|) is at most 0.17, so it
quantizes finely, and relu(x) needs no approximation. Phi(-t) is approximated by
sigmoid(t (A + B t)). Ops were chosen for what the runtimes accelerate:
- relu(x) and relu(-x) are MULs with a fused ReLU (by 1 + 2^-20 and by -1), not RELU ops: LiteRT
  runs a standalone int8 RELU about 100 times slower than a MUL (5 ms against 0.05 ms on
  [1, 128, 3072] here), and the converter folds a MUL by exactly 1 into a RELU op. With a plain
  relu(x) after a Dense layer, the converter instead folds relu(x) and relu(-x) into two copies
  of that layer, doubling its weights (a 2-layer FFN: 798 KiB against 530 KiB) for no speed gain;
- |x| is relu(x) + relu(-x): no ABS, which the Edge TPU lacks;
- no MINIMUM/MAXIMUM clip: those share quantization between input and output and can narrow
  the model's input range.
A and B were fitted on the int8 grid by `scripts/fit_relu_corr.py`: the smallest max error on
average over 13 calibration ranges from [-3, 3] to [-16, 16], among the pairs that match the
lookup table on [-8, 8] (its table: benchmarks/results/relu_corr_fit.json). On wide symmetric
ranges relu-corr is as accurate as the lookup table; on narrow or lopsided ones its max error
reaches 1.2 LSB where the table's stays at 0.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.approximations.base import Approximation

A = -1.44
B = -0.22
# relu(x) as x * (1 + 2^-20) with a fused ReLU: the factor keeps the MUL from being folded into
# a standalone RELU op. Its own effect is 1e-6 relative; the MUL's requantization rounds a few
# codes differently from a RELU's, which the fit of A and B saw.
NOT_ONE = 1.0 + 2.0**-20


def relu_corr(x: Any, a: float = A, b: float = B) -> Any:
    """relu(x) - |x| sigmoid(|x| (a + b |x|)) in Keras ops (the fit script varies a and b)."""
    from keras import ops

    pos = ops.relu(x * NOT_ONE)
    t = pos + ops.relu(x * -1.0)
    return pos - t * ops.sigmoid(t * (t * b + a))


def _keras_relu_corr(x: Any) -> Any:
    return relu_corr(x)


def _reference(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    t = np.abs(x)
    return np.maximum(x, 0.0) - t / (1.0 + np.exp(-t * (A + B * t)))


APPROXIMATION = Approximation(
    name="relu-corr",
    summary="relu(x) - |x| sigmoid(|x| (A + B|x|)); Edge-TPU ops only, int8 error of the LUT",
    reference=_reference,
    keras_fn=_keras_relu_corr,
    int8_ops=frozenset({"MUL", "ADD", "LOGISTIC", "SUB"}),
    uses_gelu_op=False,
    float_error=(0.002, 0.004),
    keras_name="relu_corr_gelu",
)
