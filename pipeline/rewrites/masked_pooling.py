"""`masked-pooling`: masked mean pooling in ops int8 TFLite runs.

Keras' GlobalAveragePooling1D with a mask multiplies by the mask cast to float and divides by
its sum: a CAST to float (a float island) and an int8 DIV, which tflite-runtime 2.14 has no
kernel for ("Div only supports FLOAT32, INT32 and quantized UINT8"). The replacement selects the
unmasked positions (GREATER on the integer mask, SELECT_V2, no float) and sums them; where the
pooled vector is then L2-normalised (a sentence encoder), dividing by the count changes nothing,
so the sum is the exact rewrite. Otherwise the mean is the sum times 1/n, with 1/n computed as
rsqrt(n * n) (SUM, MUL, RSQRT): exact in float, int8 rounds 1/n to the output grid.
"""

from __future__ import annotations

from typing import Any

from pipeline.rewrites import keras_graph
from pipeline.rewrites.base import Match, Options, Rewrite, swap_class, undo_all
from pipeline.tfenv import keras

SUM_FORM, MEAN_FORM = "sum", "mean"
NORMALISERS = ("UnitNormalization", "L2Normalization", "L2NormalizeOp", "RsqrtNormalization",
               "RsqrtNormalizeOp", "Normalize")


def _pool(layer: Any, inputs: Any, mask: Any, form: str) -> Any:
    ops = keras().ops
    steps = 1 if layer.data_format == "channels_last" else 2
    if mask is None:
        return ops.mean(inputs, axis=steps, keepdims=layer.keepdims)
    keep = ops.expand_dims(ops.greater(ops.cast(mask, "int32"), 0), 3 - steps)
    summed = ops.sum(ops.where(keep, inputs, ops.zeros_like(inputs)), axis=steps,
                     keepdims=layer.keepdims)
    if form == SUM_FORM:
        return summed
    count = ops.sum(ops.where(keep, ops.ones_like(inputs), ops.zeros_like(inputs)), axis=steps,
                    keepdims=layer.keepdims)
    return summed * ops.rsqrt(count * count)


def _classes() -> dict[str, type]:
    k = keras()

    @k.saving.register_keras_serializable(package="gelu_edge")
    class MaskedSumPooling1D(k.layers.GlobalAveragePooling1D):
        """Masked sum over the steps: the mean's direction, for an L2-normalised output."""

        def call(self, inputs: Any, mask: Any = None) -> Any:
            return _pool(self, inputs, mask, SUM_FORM)

    @k.saving.register_keras_serializable(package="gelu_edge")
    class MaskedMeanPooling1D(k.layers.GlobalAveragePooling1D):
        """Masked mean with SELECT_V2, SUM and 1/n = rsqrt(n * n): no DIV, no float CAST."""

        def call(self, inputs: Any, mask: Any = None) -> Any:
            return _pool(self, inputs, mask, MEAN_FORM)

    return {SUM_FORM: MaskedSumPooling1D, MEAN_FORM: MaskedMeanPooling1D}


_CLASSES: dict[str, type] | None = None


def classes() -> dict[str, type]:
    """form -> replacement class, registered with Keras once."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _classes()
    return _CLASSES


def _masked_calls(graph: Any) -> list[tuple[Any, Any]]:
    """(pooling layer, its node) for every GlobalAveragePooling1D called with a mask."""
    k = keras()
    found = []
    for nodes in graph._nodes_by_depth.values():
        for node in nodes:
            layer = node.operation
            if type(layer) is k.layers.GlobalAveragePooling1D or type(layer) in \
                    classes().values():
                if node.arguments.kwargs.get("mask") is not None:
                    found.append((layer, node))
    return found


def _consumers(graph: Any, tensor: Any) -> list[Any]:
    return [node.operation for nodes in graph._nodes_by_depth.values() for node in nodes
            if any(t is tensor for t in node.input_tensors)]


def find(model: Any, opts: Options) -> list[Match]:
    """Masked GlobalAveragePooling1D calls in functional graphs; the sum form when every use of
    the pooled vector L2-normalises it."""
    found = []
    for base, graph in keras_graph.graphs(model):
        for layer, node in _masked_calls(graph):
            users = _consumers(graph, node.outputs[0])
            form = SUM_FORM if users and all(type(u).__name__ in NORMALISERS
                                             for u in users) else MEAN_FORM
            path = f"{base}/{layer.name}" if base else layer.name
            detail = ("masked sum (the output is L2-normalised)" if form == SUM_FORM
                      else "masked mean, 1/n as rsqrt(n*n)")
            # The sum form equals the mean up to 1/n, which the L2 normalisation after it
            # removes: its float error is measured on normalised outputs.
            found.append(Match(path=path, target=layer, detail=detail,
                               extra={"form": form, "normalise": form == SUM_FORM},
                               replacement=lambda x, mask=None, _l=layer, _f=form, **kw:
                               _pool(_l, x, mask, _f)))
    return found


def apply(model: Any, matches: list[Match], opts: Options) -> tuple[Any, Any]:
    """Swap each masked pooling layer's class for its form."""
    return model, undo_all([swap_class(m.target, classes()[m.extra["form"]]) for m in matches])


REWRITE = Rewrite(
    name="masked-pooling",
    summary="masked GlobalAveragePooling1D without CAST to float and int8 DIV (a masked sum "
            "before L2 normalisation)",
    int8_ops=frozenset({"GREATER", "SELECT_V2", "SUM", "MUL", "RSQRT"}),
    targets=None,
    find=find,
    apply=apply,
)
