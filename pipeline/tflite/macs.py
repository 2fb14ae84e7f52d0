"""Multiply-accumulates of a TFLite graph's matrix ops, and the arithmetic each runs in.

Shared by `--recover` (which weighs layers by their MACs) and the report's "what int8 buys"."""

from __future__ import annotations

import numpy as np

from pipeline.tflite.graph import FLOAT_TYPES, Graph, Op

# The ops whose multiply-accumulates dominate a model's compute.
MAC_OPS = frozenset({"FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D",
                     "TRANSPOSE_CONV"})
INT8_TYPES = frozenset({"INT8", "UINT8"})
# The arithmetic of a matrix op, by its activation and weight types. LiteRT's hybrid
# (dynamic-range) kernels quantize the float input on the fly and multiply in int8.
KINDS = ("int8", "int16x8", "hybrid", "float")
INTEGER_KINDS = frozenset({"int8", "int16x8", "hybrid"})


def macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates of a matrix op, one invoke (output elements times the reduced
    length; for TRANSPOSE_CONV, input elements times the kernel's other dimensions); 0 for
    any other op."""
    if len(op.inputs) < 2 or not op.outputs:
        return 0
    out = int(np.prod(graph.tensors[op.outputs[0]].shape))
    shape = graph.tensors[op.inputs[1]].shape
    if op.name == "FULLY_CONNECTED" and shape:
        return out * int(shape[-1])
    if op.name == "CONV_2D" and len(shape) == 4:
        return out * int(np.prod(shape[1:]))
    if op.name == "DEPTHWISE_CONV_2D" and len(shape) == 4:
        return out * int(shape[1] * shape[2])
    if op.name == "BATCH_MATMUL":
        first = graph.tensors[op.inputs[0]].shape
        return out * int(first[-1]) if first else 0
    if op.name == "TRANSPOSE_CONV" and len(op.inputs) >= 3 and len(shape) == 4:
        # inputs: output shape, weights [out_channels, h, w, in_channels], activations
        return int(np.prod(graph.tensors[op.inputs[2]].shape)) * int(np.prod(shape[:3]))
    return 0


def kind(graph: Graph, op: Op) -> str:
    """The arithmetic a matrix op runs in: "int8" (int8/uint8 activations and weights),
    "int16x8", "hybrid" (float activations, int8 weights) or "float"."""
    activation, weight = (op.inputs[2], op.inputs[1]) if op.name == "TRANSPOSE_CONV" \
        else (op.inputs[0], op.inputs[1])
    a, w = graph.tensors[activation].dtype, graph.tensors[weight].dtype
    if w in INT8_TYPES:
        if a in INT8_TYPES:
            return "int8"
        if a == "INT16":
            return "int16x8"
        if a in FLOAT_TYPES:
            return "hybrid"
    return "float"
