"""Attention's activation x activation matmuls split per head: an exact transform of the float
TFLite graph that gives each head's operands and scores int8 scales of their own.

One int8 scale per tensor serves all of a BATCH_MATMUL's heads; in MiniLM's first layer one
head's QK^T scores span 146 (the others 7-30), so the rest get a step of 0.57 before the
softmax. Each [1, H, M, K] x [1, H, K, N] matmul becomes a SPLIT of each operand along the head
axis, H matmuls of [1, 1, M, K] x [1, 1, K, N] and a CONCATENATION of their outputs: the same
float products, now H tensors whose ranges are calibrated one by one. The new tensors are
named after the matmul's output (`<output>/head<h>`, `<output>/a_head<h>`, `<output>/b_head<h>`),
so a plan's static ranges find them again.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from pipeline.tflite import edit
from pipeline.tflite.graph import schema

HEAD_AXIS = 1


def _name(tensor: Any) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def _op(code: int, inputs: list[int], outputs: list[int], options_type: int, options: Any
        ) -> Any:
    o = schema().OperatorT()
    o.opcodeIndex = code
    o.inputs, o.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
    o.builtinOptionsType, o.builtinOptions = options_type, options
    return o


def split(data: bytes, matmuls: list[int]) -> bytes:
    """The float model with the BATCH_MATMULs at these op indices split per head: those whose
    operands are both [batch, heads > 1, ., .] (axis 1 is a batch axis of the matmul, so the
    split is exact)."""
    import flatbuffers

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    ops = []
    for i, op in enumerate(graph.operators):
        a, b, out = (int(t) for t in (*op.inputs[:2], op.outputs[0])) if i in matmuls else \
            (0, 0, 0)
        tensors = graph.tensors
        # rank 4 with the same head count on both sides (a broadcast operand is left whole)
        if i not in matmuls or len(tensors[a].shape) != 4 or len(tensors[b].shape) != 4 or \
                tensors[a].shape[HEAD_AXIS] < 2 or \
                tensors[a].shape[HEAD_AXIS] != tensors[b].shape[HEAD_AXIS]:
            ops.append(op)
            continue
        heads, base = int(tensors[a].shape[HEAD_AXIS]), _name(tensors[out])
        axis = edit.add_tensor(model, f"{base}/head_axis", [], s.TensorType.INT32,
                               np.array([HEAD_AXIS], np.int32))
        parts = {}
        for side, index in (("a", a), ("b", b)):
            shape = [int(d) for d in tensors[index].shape]
            shape[HEAD_AXIS] = 1
            outs = [edit.add_tensor(model, f"{base}/{side}_head{h}", shape, tensors[index].type)
                    for h in range(heads)]
            options = s.SplitOptionsT()
            options.numSplits = heads
            ops.append(_op(edit.op_code(model, s.BuiltinOperator.SPLIT), [axis, index], outs,
                           s.BuiltinOptions.SplitOptions, options))
            parts[side] = outs
        shape = [int(d) for d in tensors[out].shape]
        shape[HEAD_AXIS] = 1
        per_head = []
        for h in range(heads):
            head_out = edit.add_tensor(model, f"{base}/head{h}", shape, tensors[out].type)
            matmul = copy.deepcopy(op)
            matmul.inputs = np.array([parts["a"][h], parts["b"][h]], np.int32)
            matmul.outputs = np.array([head_out], np.int32)
            ops.append(matmul)
            per_head.append(head_out)
        options = s.ConcatenationOptionsT()
        options.axis = HEAD_AXIS
        ops.append(_op(edit.op_code(model, s.BuiltinOperator.CONCATENATION), per_head, [out],
                       s.BuiltinOptions.ConcatenationOptions, options))
    graph.operators = ops
    builder = flatbuffers.Builder(2 * len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
