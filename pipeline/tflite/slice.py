"""A part of a TFLite model as a model of its own: some of its ops, fed from new inputs where
their operands come from ops left out, with only the tensors, buffers and op codes they use.
Used to time a few ops alone (what the float islands of a model cost) on the real runtime,
which has no per-op profiler in Python, and to cut coral's Edge TPU and host segments
(pipeline.tflite.segments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.tflite.graph import schema


def _constant(model: Any, tensor: Any) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def _ints(values: Any) -> list[int]:
    return [int(t) for t in (values if values is not None else [])]


def submodel(data: bytes, ops: Sequence[int], inputs: Sequence[int] | None = None,
             outputs: Sequence[int] | None = None, description: str | None = None) -> bytes:
    """The model made of the ops at these indices of the main subgraph (in their order). Its
    inputs and outputs are the given tensors (indices of the whole model), by default the
    non-constant tensors the ops read that none of them writes (in the order first read) and
    every tensor they write. Only the tensors, buffers and op codes they use are kept,
    renumbered."""
    import flatbuffers

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    kept = [graph.operators[i] for i in sorted(set(ops))]
    written = [t for op in kept for t in _ints(op.outputs) if t >= 0]
    read = [t for op in kept for t in _ints(op.inputs) if t >= 0]
    if inputs is None:
        inputs = [t for t in dict.fromkeys(read)
                  if t not in written and not _constant(model, graph.tensors[t])]
    if outputs is None:
        outputs = sorted(set(written))
    used = sorted(set(read) | set(written) | set(inputs) | set(outputs))
    tensor_map = {old: new for new, old in enumerate(used)}
    buffers, tensors = [s.BufferT()], []  # buffer 0 is the empty one
    for old in used:
        t = graph.tensors[old]
        if _constant(model, t):
            buffers.append(model.buffers[t.buffer])
            t.buffer = len(buffers) - 1
        else:
            t.buffer = 0
        tensors.append(t)
    code_map: dict[int, int] = {}
    for op in kept:
        op.opcodeIndex = code_map.setdefault(op.opcodeIndex, len(code_map))
        op.inputs = np.array([tensor_map[t] if t >= 0 else -1 for t in _ints(op.inputs)],
                             np.int32)
        op.outputs = np.array([tensor_map[t] for t in _ints(op.outputs)], np.int32)
    sub = s.SubGraphT()
    sub.tensors, sub.operators = tensors, kept
    sub.inputs = np.array([tensor_map[t] for t in inputs], np.int32)
    sub.outputs = np.array([tensor_map[t] for t in outputs], np.int32)
    sub.name = description
    out = s.ModelT()
    out.version, out.description = model.version, description or model.description
    out.operatorCodes = [model.operatorCodes[old]
                         for old, _ in sorted(code_map.items(), key=lambda kv: kv[1])]
    out.subgraphs, out.buffers = [sub], buffers
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(out.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
