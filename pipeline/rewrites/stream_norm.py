"""stream-scale's layer norm: the statistics of a stream carried divided by a per-dimension
scale, in a form int8 keeps (the outlier dimensions' squares summed apart, two normalisation
passes), or through L2_NORMALIZATION for the Edge TPU."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.tfenv import keras, tensorflow


def _variance(d: Any, s: np.ndarray, extra: Any = None) -> Any:
    """mean((d s)^2) over the last axis (plus `extra`, per token), as sums of parts: the
    dimensions with s = 1 and the outlier dimensions (s > 1), each in a tensor of its own. In
    one tensor the outliers' squares set the int8 grid and the other dimensions' round to
    zero. The parts are summed by CONCATENATION and SUM: the converter fails on an ADD of two
    per-token MEANs here ("'tf.Transpose' op x should be of the same rank with y")."""
    ops = keras().ops
    squares = ops.multiply(d, d)
    outlier = s > 1
    if not outlier.any():
        parts = [ops.mean(squares, axis=-1, keepdims=True)]
    else:
        normal = ops.multiply(squares, ops.convert_to_tensor((~outlier).astype(np.float32)))
        big = ops.multiply(squares, ops.convert_to_tensor(np.where(outlier, s * s, 0.0)
                                                          .astype(np.float32)))
        parts = [ops.mean(normal, axis=-1, keepdims=True), ops.mean(big, axis=-1, keepdims=True)]
    parts += [] if extra is None else [extra]
    if len(parts) == 1:
        return parts[0]
    return ops.sum(ops.concatenate(parts, axis=-1), axis=-1, keepdims=True)


def weighted_call(layer: Any, inputs: Any) -> Any:
    """Layer norm of x = y s_in from y, the statistics weighted by s_in (`layer._stream_in`).
    CPU form: the centred stream divided by its standard deviation twice. A few tokens (BERT's
    [CLS]) have a variance hundreds of times the others', so one int8 grid for the variance
    leaves the others a level or two; the first pass brings every token near unit variance,
    and the second, computed on those with epsilon scaled alike, makes the result exact. The
    variance is summed in two groups (`_variance`). Edge TPU form (`layer._stream_l2`): the
    normalisation by L2_NORMALIZATION of the centred x (the layer-norm rewrite's form). Gamma
    and beta are already folded."""
    ops = keras().ops
    s = layer._stream_in
    y = ops.cast(inputs, "float32")
    scaled = bool(np.any(s != 1))
    weighted = ops.multiply(y, ops.convert_to_tensor(s)) if scaled else y
    mean = ops.mean(weighted, axis=-1, keepdims=True)
    d = ops.subtract(y, ops.multiply(mean, ops.convert_to_tensor(1.0 / s)) if scaled else mean)
    if getattr(layer, "_stream_l2", False):
        centred = ops.multiply(d, ops.convert_to_tensor(s))  # x - mean, the outliers back
        out = ops.multiply(tensorflow().math.l2_normalize(centred, axis=-1),
                           ops.convert_to_tensor(math.sqrt(s.size) / s))
    else:
        # d r1 / sqrt(var(d r1) + eps r1^2) = d / sqrt(var(d) + eps) for any r1 > 0
        r1 = ops.rsqrt(ops.add(_variance(d, s), layer.epsilon))
        out = ops.multiply(d, r1)
        epsilon = ops.multiply(ops.multiply(r1, r1), layer.epsilon)
        out = ops.multiply(out, ops.rsqrt(_variance(out, s, epsilon)))
    if layer.gamma is not None:
        out = ops.multiply(out, ops.cast(layer.gamma, out.dtype))
    if layer.beta is not None:
        out = ops.add(out, ops.cast(layer.beta, out.dtype))
    return ops.cast(out, layer.compute_dtype)


_CLASS: type | None = None


def weighted_class() -> type:
    global _CLASS
    if _CLASS is None:
        k = keras()

        @k.saving.register_keras_serializable(package="gelu_edge")
        class WeightedStatsLayerNorm(k.layers.LayerNormalization):
            """Layer norm of a stream carried divided by a per-dimension scale."""

            def call(self, inputs: Any) -> Any:
                return weighted_call(self, inputs)

        _CLASS = WeightedStatsLayerNorm
    return _CLASS
