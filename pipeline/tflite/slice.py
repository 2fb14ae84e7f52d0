"""A part of a TFLite model as a model of its own: some of its ops, fed from new inputs where
their operands come from ops left out. Used to time a few ops alone (what the float islands of
a model cost) on the real runtime, which has no per-op profiler in Python."""

from __future__ import annotations

from typing import Any

from pipeline.tflite.graph import schema


def _constant(model: Any, tensor: Any) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def submodel(data: bytes, ops: list[int]) -> bytes:
    """The model made of the ops at these indices of the main subgraph (in their order): its
    inputs are the non-constant tensors they read that none of them writes, its outputs the
    tensors they write. Everything else is dropped from the graph (constants stay in place)."""
    import flatbuffers

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    kept = [graph.operators[i] for i in sorted(set(ops))]
    written = {int(t) for op in kept for t in (op.outputs if op.outputs is not None else [])}
    read = [int(t) for op in kept for t in (op.inputs if op.inputs is not None else []) if t >= 0]
    inputs = [t for t in dict.fromkeys(read)
              if t not in written and not _constant(model, graph.tensors[t])]
    graph.operators = kept
    graph.inputs = inputs
    graph.outputs = sorted(written)
    model.signatureDefs = []
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
