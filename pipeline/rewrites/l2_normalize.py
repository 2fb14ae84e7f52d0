"""`l2-normalize`: L2 normalisation in ops int8 TFLite runs, in the form the target runs best.

`keras.layers.UnitNormalization` and `keras.ops.normalize(x)` lower to SQUARE, SUM, MINIMUM,
RSQRT and MUL, and int8 TFLite keeps the SQUARE in float (a DEQUANTIZE/QUANTIZE island).
- On CPU targets: x * rsqrt(max(sum(x * x), eps)) with x * x as a MUL (MUL, SUM, MAXIMUM,
  RSQRT, MUL, all int8). The output's int8 scale comes from calibration: a 384-d unit
  embedding spans about +-0.25, a step of 1/500.
- For the Edge TPU: `tf.math.l2_normalize`, the builtin L2_NORMALIZATION (an Edge TPU op). Its
  output scale is fixed at 1/128, whatever the values span, and stays so even when --recover
  runs the op in float: MiniLM's embedding in that form loses 11 dB against the CPU form with
  every layer in float (27 against 38 dB).
Only normalisation over the last axis is rewritten: that is the axis the op normalises.
"""

from __future__ import annotations

from typing import Any

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite, swap_class, undo_all
from pipeline.tfenv import keras, tensorflow

EDGE_TPU_TARGETS = ("coral",)
EPSILON = 1e-12  # keras.ops.normalize's


def l2_normalize(x: Any) -> Any:
    """x / |x| over the last axis, as TFLite's L2_NORMALIZATION."""
    return tensorflow().math.l2_normalize(x, axis=-1)


def rsqrt_normalize(x: Any) -> Any:
    """x / |x| over the last axis as MUL, SUM, MAXIMUM, RSQRT and MUL."""
    tf = tensorflow()
    return x * tf.math.rsqrt(tf.maximum(tf.reduce_sum(x * x, axis=-1, keepdims=True), EPSILON))


def _classes() -> dict[str, tuple[type, type]]:
    k = keras()

    def pair(prefix: str, fn: Any, op: str) -> tuple[type, type]:
        layer = type(f"{prefix}Normalization", (k.layers.UnitNormalization,), {
            "__doc__": f"UnitNormalization over the last axis that converts to {op}.",
            "call": lambda self, inputs: fn(inputs)})
        raw = type(f"{prefix}NormalizeOp", (k.layers.Layer,), {
            "__doc__": f"The layer a raw keras.ops.normalize node becomes ({op}).",
            "call": lambda self, inputs: fn(inputs)})
        register = k.saving.register_keras_serializable(package="gelu_edge")
        return register(layer), register(raw)

    return {"cpu": pair("Rsqrt", rsqrt_normalize, "MUL, SUM, MAXIMUM, RSQRT, MUL"),
            "edge_tpu": pair("L2", l2_normalize, "L2_NORMALIZATION")}


_CLASSES: dict[str, tuple[type, type]] | None = None


def classes(target: str = "rpi") -> tuple[type, type]:
    """(the UnitNormalization replacement, the raw-op replacement) for a target, registered
    with Keras once."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _classes()
    return _CLASSES["edge_tpu" if target.split(":")[0] in EDGE_TPU_TARGETS else "cpu"]


def _last_axis(axis: Any, ndim: int) -> bool:
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return len(axes) == 1 and axes[0] in (-1, ndim - 1)


def find(model: Any, opts: Options) -> list[Match]:
    """UnitNormalization layers and keras.ops.normalize(order=2) nodes over the last axis."""
    k = keras()
    form = l2_normalize if opts.target.split(":")[0] in EDGE_TPU_TARGETS else rsqrt_normalize
    found = []
    for path, layer in keras_graph.walk(model):
        if type(layer) is k.layers.UnitNormalization and layer.built and \
                _last_axis(layer.axis, len(layer.input.shape)):
            found.append(Match(path=path, target=layer, detail="UnitNormalization",
                               replacement=lambda x, *a, _f=form, **kw: _f(x)))
    for path, op, graph in keras_graph.graph_nodes(model):
        if type(op).__name__ == "Normalize" and op.order == 2 and op.axis in (-1, None):
            found.append(Match(path=path, target=op, detail="keras.ops.normalize",
                               extra={"graph": graph}))
    return found


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Swap UnitNormalization's class; rebuild graphs with raw normalize nodes as layers."""
    layer_class, op_class = classes(opts.target)
    undos = [swap_class(m.target, layer_class) for m in matches
             if m.extra.get("graph") is None]
    ops = [m.target for m in matches if m.extra.get("graph") is not None]
    if ops:
        model = keras_graph.rebuild(model, {id(op): lambda o, x, *a, **kw: op_class(
            name=o.name)(x) for op in ops})
    return model, undo_all(undos)


REWRITE = Rewrite(
    name="l2-normalize",
    summary="UnitNormalization / keras.ops.normalize without a float SQUARE: MUL, SUM, RSQRT "
            "(an output scale of its own); for coral L2_NORMALIZATION",
    int8_ops=frozenset({"MUL", "SUM", "MAXIMUM", "RSQRT", "L2_NORMALIZATION"}),
    targets=None,
    find=find,
    apply=apply,
)
