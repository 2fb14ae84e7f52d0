"""`layer-norm`: Keras' LayerNormalization without the float op int8 TFLite cannot run.

Keras 3 lowers layer norm to MEAN, SQUARED_DIFFERENCE, RSQRT, MUL, ADD and a NEG; int8 TFLite
has no NEG kernel, so the converter leaves a DEQUANTIZE/NEG/QUANTIZE float island per layer
norm. The replacement centres with a SUB instead: mean, x - mean, mean of its square, rsqrt,
scale and shift (MEAN, SUB, MUL, ADD, RSQRT, all int8), with the same gamma and beta. For the
Edge TPU, which has no RSQRT, the normalisation is the builtin L2_NORMALIZATION times sqrt(N)
(an Edge TPU op); it leaves out epsilon, which only matters for rows of near-zero variance.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite, swap_class, undo_all
from pipeline.tfenv import keras, tensorflow

EDGE_TPU_TARGETS = ("coral",)
NOT_ONE = 1.0 + 2.0**-20


def _broadcast(layer: Any, weight: Any, ndim: int) -> Any:
    """gamma/beta shaped to broadcast against the input (they cover only the normalised axes)."""
    if weight is None or len(layer.axis) == 1 and layer.axis[0] in (-1, ndim - 1):
        return weight
    shape = [1] * ndim
    for axis in layer.axis:
        shape[axis] = weight.shape[layer.axis.index(axis)]
    return keras().ops.reshape(weight, shape)


def _finish(layer: Any, y: Any, ndim: int) -> Any:
    ops = keras().ops
    gamma, beta = _broadcast(layer, layer.gamma, ndim), _broadcast(layer, layer.beta, ndim)
    if gamma is not None:
        y = ops.multiply(y, ops.cast(gamma, y.dtype))
    if beta is not None:
        y = ops.add(y, ops.cast(beta, y.dtype))
    return ops.cast(y, layer.compute_dtype)


def no_neg_call(layer: Any, inputs: Any) -> Any:
    """Layer norm as MEAN, SUB, MUL, ADD, RSQRT: no NEG."""
    ops = keras().ops
    x = ops.cast(inputs, "float32")
    if layer.rms_scaling:
        y = x * ops.rsqrt(ops.mean(x * x, axis=layer.axis, keepdims=True) + layer.epsilon)
    else:
        centred = ops.subtract(x, ops.mean(x, axis=layer.axis, keepdims=True))
        variance = ops.mean(ops.multiply(centred, centred), axis=layer.axis, keepdims=True)
        y = ops.multiply(centred, ops.rsqrt(variance + layer.epsilon))
    return _finish(layer, y, len(inputs.shape))


def l2_call(layer: Any, inputs: Any) -> Any:
    """Layer norm with the builtin L2_NORMALIZATION (Edge TPU): sqrt(N) * c / |c|, c = x - mean."""
    ops, tf = keras().ops, tensorflow()
    x = ops.cast(inputs, "float32")
    n = math.prod(inputs.shape[a] for a in layer.axis)
    centred = x if layer.rms_scaling else ops.subtract(x, ops.mean(x, axis=layer.axis,
                                                                   keepdims=True))
    # Scaling by NOT_ONE changes nothing after the normalisation; it keeps the converter from
    # fusing the square of the difference into SQUARED_DIFFERENCE, which would lose the
    # L2_NORMALIZATION pattern.
    axis = -1 if len(layer.axis) == 1 and layer.axis[0] in (-1, len(inputs.shape) - 1) \
        else layer.axis  # the builtin op normalises the last axis
    y = tf.math.l2_normalize(centred * NOT_ONE, axis=axis) * math.sqrt(n)
    return _finish(layer, y, len(inputs.shape))


def _classes() -> tuple[type, type]:
    k = keras()

    @k.saving.register_keras_serializable(package="gelu_edge")
    class NoNegLayerNorm(k.layers.LayerNormalization):
        """LayerNormalization that converts to integer TFLite ops (no NEG)."""

        def call(self, inputs: Any) -> Any:
            return no_neg_call(self, inputs)

    @k.saving.register_keras_serializable(package="gelu_edge")
    class L2NormLayerNorm(k.layers.LayerNormalization):
        """LayerNormalization through L2_NORMALIZATION, an Edge TPU op."""

        def call(self, inputs: Any) -> Any:
            return l2_call(self, inputs)

    return NoNegLayerNorm, L2NormLayerNorm


_CLASSES: tuple[type, type] | None = None


def classes() -> tuple[type, type]:
    """(the CPU form's class, the Edge TPU form's class), registered with Keras once."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _classes()
    return _CLASSES


def _form(target: str) -> tuple[type, Any]:
    no_neg, l2 = classes()
    return (l2, l2_call) if target.split(":")[0] in EDGE_TPU_TARGETS else (no_neg, no_neg_call)


def find(model: Any, opts: Options) -> list[Match]:
    """Every LayerNormalization over the last axis or axes, at any depth."""
    k = keras()
    new_class, call = _form(opts.target)
    found = []
    for path, layer in keras_graph.walk(model):
        if type(layer) is k.layers.LayerNormalization or type(layer) in classes():
            found.append(Match(path=path, target=layer, detail=new_class.__name__,
                               replacement=lambda x, *a, _l=layer, _c=call, **kw: _c(_l, x)))
    return found


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Swap each layer norm's class for the form the target runs; weights stay."""
    new_class, _ = _form(opts.target)
    return model, undo_all([swap_class(m.target, new_class) for m in matches])


REWRITE = Rewrite(
    name="layer-norm",
    summary="LayerNormalization without NEG (MEAN, SUB, MUL, ADD, RSQRT); for coral through "
            "L2_NORMALIZATION",
    int8_ops=frozenset({"MEAN", "SUB", "MUL", "ADD", "RSQRT", "L2_NORMALIZATION"}),
    targets=None,
    find=find,
    apply=apply,
)
