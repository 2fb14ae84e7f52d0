"""`--host-float`: a coral chain whose host segments compute in float.

The Edge TPU runs int8 only, but the host segments between its segments run on the host's CPU,
which runs float. Kept in float there:
- the ops the Edge TPU cannot run (the embedding lookup, attention's BATCH_MATMULs, TRANSPOSE,
  SOFTMAX): they run on the host anyway;
- every layer norm's ops but its matrix ops: int8 layer norm is where an all-integer transformer
  loses its accuracy;
- every ADD of two activations (the residual connections, the embeddings' sum): the residual
  stream is carried in float between the Edge TPU segments.
The matrix ops (FULLY_CONNECTED, CONV_2D, ...) and everything else the Edge TPU runs stay int8;
each float island's edges are QUANTIZE / DEQUANTIZE ops on the host, so every tensor that
crosses to the Edge TPU is int8. More host work means more segments and transfers: the report's
estimate counts them.

The ops are named for the quantizer by their output tensors (`denylisted_nodes`, as --recover
does on a CPU target), so a plan replays them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.records.convert import CheckResult
from pipeline.tflite.graph import Graph, Op, own_name

MATRIX_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
REQUANTIZE = ("QUANTIZE", "DEQUANTIZE")
KEPT = "host segments (--host-float)"  # what the plan's keep_float says
NORMS = ("LayerNormalization", "RMSNormalization", "GroupNormalization")


def check_option(target: str, host_float: bool) -> None:
    """--host-float is for coral alone: refused before any work elsewhere."""
    from pipeline.errors import UserError

    if host_float and target != "coral":
        raise UserError("--host-float applies to --target coral (its host segments between "
                        f"the Edge TPU segments); target {target!r} runs one model: leave it "
                        "out, or use --recover on a CPU target")


def norm_layers(model: Any) -> set[str]:
    """The names of the model's normalisation layers (and their subclasses), at any depth."""
    from pipeline.rewrites import keras_graph
    from pipeline.tfenv import keras

    classes = tuple(getattr(keras().layers, n) for n in NORMS if hasattr(keras().layers, n))
    return {layer.name for _, layer in keras_graph.walk(model) if isinstance(layer, classes)}


def _in_layer(name: str, layers: set[str]) -> bool:
    own = own_name(name)
    return any(f"/{leaf}/" in own or f"/{leaf}_" in own for leaf in layers)


def reason(graph: Graph, op: Op, norms: set[str], on_tpu: bool) -> str | None:
    """Why this op runs in float on the host, or None when it stays int8."""
    if op.name in REQUANTIZE:
        return None
    if not on_tpu:
        return "the Edge TPU cannot run it"
    if op.name in MATRIX_OPS:
        return None
    if any(_in_layer(graph.tensors[t].name, norms) for t in op.outputs if t >= 0):
        return "a layer norm's op"
    if op.name == "ADD" and not any(graph.is_constant(t) for t in op.inputs if t >= 0):
        return "an add of two activations (a residual connection)"
    return None


def chosen_nodes(graph: Graph, model: Any, on_tpu: Callable[[Op], bool]) -> list[str]:
    """The output tensor names of the ops `reason` picks in `graph`, a TFLite model of the
    replaced Keras `model`; `on_tpu(op)`: whether the Edge TPU runs the op."""
    norms = norm_layers(model)
    names: list[str] = []
    for op in graph.ops:
        if reason(graph, op, norms, on_tpu(op)) is not None:
            names += [graph.tensors[t].name for t in op.outputs if t >= 0]
    return names


def float_nodes(graph: Graph, model: Any) -> list[str]:
    """The output tensor names of the ops --host-float keeps in float, in the int8 model
    `graph` of the replaced Keras `model`."""
    from pipeline.targets import coral

    return chosen_nodes(graph, model, lambda op: coral.tpu_op(graph, op)[0])


def judged(check: CheckResult, float_ops: int) -> CheckResult:
    """The float-island check of a --host-float chain: its float ops are on the host by
    design (the Edge TPU segments' own check refuses any float tensor)."""
    from pipeline.gate.islands import ISLAND_CHECK

    if check.name != ISLAND_CHECK or check.passed:
        return check
    return check.model_copy(update={
        "passed": True,
        "message": f"{float_ops} float op(s), all in host segments (--host-float); every Edge "
                   "TPU segment is int8 (its static check says so)"})
