"""What a model computes, hashed whatever its op order and tensor names
(`graph.canonical_sha256`): a plan replayed by a converter that orders independent ops
differently is the same model; another weight is not."""

from __future__ import annotations

import hashlib

import numpy as np

from pipeline.progress import Quiet
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model


def _two_branches() -> bytes:
    k = keras()
    x = k.Input((4,))
    model = k.Model(x, k.layers.Add()([k.layers.Dense(3, name="a")(x),
                                       k.layers.Dense(3, name="b")(x)]))
    return convert_model(model, "none", np.zeros((4, 4), np.float32), 1, Quiet())


def _edited(data: bytes, edit) -> bytes:
    import flatbuffers

    s = tflite_graph.schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    edit(model)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_independent_ops_reordered_and_renamed_are_the_same_computation() -> None:
    data = _two_branches()
    graph = tflite_graph.parse(data)
    fc = [i for i, op in enumerate(graph.ops) if op.name == "FULLY_CONNECTED"]
    assert len(fc) == 2

    def swap_and_rename(model) -> None:
        ops = model.subgraphs[0].operators
        ops[fc[0]], ops[fc[1]] = ops[fc[1]], ops[fc[0]]
        for t in model.subgraphs[0].tensors:
            t.name = t.name + b"_renamed" if t.name else t.name

    def another_weight(model) -> None:
        sub = model.subgraphs[0]
        weight = sub.tensors[graph.ops[fc[0]].inputs[1]]
        buf = model.buffers[weight.buffer]
        values = np.frombuffer(bytes(buf.data), np.float32).copy()
        values[0] += 1.0
        buf.data = np.frombuffer(values.tobytes(), np.uint8)

    moved = _edited(data, swap_and_rename)
    assert hashlib.sha256(moved).digest() != hashlib.sha256(data).digest()
    assert tflite_graph.canonical_sha256(moved) == tflite_graph.canonical_sha256(data)
    changed = _edited(data, another_weight)
    assert tflite_graph.canonical_sha256(changed) != tflite_graph.canonical_sha256(data)
