"""Small edits of an unpacked TFLite model (the flatbuffer object API ai-edge-litert ships):
the op code of a builtin, found or added, and a new tensor. Shared by the graph transforms
that insert ops (pipeline.tflite.smooth, pipeline.tflite.heads)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.tflite.graph import schema


def op_code(model: Any, builtin: int) -> int:
    """The index of the builtin op's code in the model, added (version 1) when missing."""
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema().OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def add_tensor(model: Any, name: str, shape: list[int], tensor_type: int,
               values: np.ndarray | None = None) -> int:
    """A new tensor in the main subgraph (constant when `values` is given), with a buffer of
    its own; its index."""
    s = schema()
    buffer = s.BufferT()
    if values is not None:
        buffer.data = np.frombuffer(values.tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor = s.TensorT()
    tensor.shape, tensor.type, tensor.buffer = shape, tensor_type, len(model.buffers) - 1
    tensor.name = name.encode()
    graph = model.subgraphs[0]
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1
