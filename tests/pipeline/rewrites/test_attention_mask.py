"""attention-mask: attention with a bounded mask gives the same outputs where masked positions
carry no weight, and int8 softmax input stays in a range of tens, not millions."""

from __future__ import annotations

import numpy as np
from rewrite_checks import int8_ops, max_diff, rewritten

from pipeline.progress import Quiet
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model

# exp(-16) of the weight stays on masked positions: 1e-7 relative, then float rounding.
BOUNDED_MASK_TOL = 1e-5
MAX_SOFTMAX_INPUT_SCALE = 1.0  # -1e9 gave a scale of about 4e6
k = keras()
RNG = np.random.default_rng(0)


def _model():
    x = k.Input((6, 8), name="x")
    mask = k.Input((6,), dtype="int32", name="mask")
    att = k.layers.MultiHeadAttention(2, 4, name="mha")
    keep = k.ops.cast(mask, "bool")
    h = att(x, x, attention_mask=keep[:, None, :] & keep[:, :, None])
    return k.Model([x, mask], k.layers.Dense(3)(h))


def test_bounded_mask_same_outputs_and_a_softmax_scale_int8_can_use() -> None:
    model = _model()
    x = RNG.normal(size=(64, 6, 8)).astype("float32")
    mask = (np.arange(6)[None] < RNG.integers(2, 7, 64)[:, None]).astype("int32")
    before = model.predict([x, mask], verbose=0)
    model, matches, _ = rewritten(model, "attention-mask")
    assert [m.path for m in matches] == ["mha"]
    after = model.predict([x, mask], verbose=0)
    assert max_diff(after, before) < BOUNDED_MASK_TOL
    graph = tflite_graph.parse(convert_model(model, "int8", [x, mask], 1, Quiet()))
    softmax = next(op for op in graph.ops if op.name == "SOFTMAX")
    assert graph.tensors[softmax.inputs[0]].scale < MAX_SOFTMAX_INPUT_SCALE
    ops, floats = int8_ops(model, [x, mask])
    assert not floats, (ops, floats)
