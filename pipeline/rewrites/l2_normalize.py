"""`l2-normalize`: L2 normalisation as the builtin L2_NORMALIZATION op.

`keras.layers.UnitNormalization` and `keras.ops.normalize(x)` lower to SQUARE, SUM, MINIMUM,
RSQRT and MUL, and int8 TFLite keeps the SQUARE in float (a DEQUANTIZE/QUANTIZE island).
`tf.math.l2_normalize` converts to L2_NORMALIZATION, which has an int8 kernel (its output scale
is fixed at 1/128) and is an Edge TPU op. Only normalisation over the last axis is rewritten:
that is the axis the op normalises.
"""

from __future__ import annotations

from typing import Any

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite, swap_class, undo_all
from pipeline.tfenv import keras, tensorflow


def l2_normalize(x: Any) -> Any:
    """x / |x| over the last axis, as TFLite's L2_NORMALIZATION."""
    return tensorflow().math.l2_normalize(x, axis=-1)


def _class() -> type:
    k = keras()

    @k.saving.register_keras_serializable(package="gelu_edge")
    class L2Normalization(k.layers.UnitNormalization):
        """UnitNormalization over the last axis that converts to L2_NORMALIZATION."""

        def call(self, inputs: Any) -> Any:
            return l2_normalize(inputs)

    @k.saving.register_keras_serializable(package="gelu_edge")
    class L2NormalizeOp(k.layers.Layer):
        """The layer a raw keras.ops.normalize node becomes."""

        def call(self, inputs: Any) -> Any:
            return l2_normalize(inputs)

    return L2Normalization, L2NormalizeOp


_CLASSES: tuple[type, type] | None = None


def classes() -> tuple[type, type]:
    """(the UnitNormalization replacement, the raw-op replacement), registered once."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _class()
    return _CLASSES


def _last_axis(axis: Any, ndim: int) -> bool:
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return len(axes) == 1 and axes[0] in (-1, ndim - 1)


def find(model: Any, opts: Options) -> list[Match]:
    """UnitNormalization layers and keras.ops.normalize(order=2) nodes over the last axis."""
    k = keras()
    found = []
    for path, layer in keras_graph.walk(model):
        if type(layer) is k.layers.UnitNormalization and layer.built and \
                _last_axis(layer.axis, len(layer.input.shape)):
            found.append(Match(path=path, target=layer, detail="UnitNormalization",
                               replacement=lambda x, *a, **kw: l2_normalize(x)))
    for path, op, graph in keras_graph.graph_nodes(model):
        if type(op).__name__ == "Normalize" and op.order == 2 and op.axis in (-1, None):
            found.append(Match(path=path, target=op, detail="keras.ops.normalize",
                               extra={"graph": graph}))
    return found


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Swap UnitNormalization's class; rebuild graphs with raw normalize nodes as layers."""
    layer_class, op_class = classes()
    undos = [swap_class(m.target, layer_class) for m in matches
             if m.extra.get("graph") is None]
    ops = [m.target for m in matches if m.extra.get("graph") is not None]
    if ops:
        model = keras_graph.rebuild(model, {id(op): lambda o, x, *a, **kw: op_class(
            name=o.name)(x) for op in ops})
    return model, undo_all(undos)


REWRITE = Rewrite(
    name="l2-normalize",
    summary="UnitNormalization / keras.ops.normalize as L2_NORMALIZATION (no float SQUARE)",
    int8_ops=frozenset({"L2_NORMALIZATION"}),
    targets=None,
    find=find,
    apply=apply,
)
