"""l2-normalize: UnitNormalization and raw keras.ops.normalize become int8 ops: MUL, SUM and
RSQRT on CPU targets, L2_NORMALIZATION for coral."""

from __future__ import annotations

import numpy as np
import pytest
from rewrite_checks import int8_ops, max_diff, rewritten

from pipeline.progress import Quiet
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model

SAME_FLOAT_TOL = 1e-6
k = keras()
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("target, form", [
    ("rpi", {"MUL": 4, "SUM": 2, "RSQRT": 2}),  # x * x, and x times the rsqrt
    ("coral", {"L2_NORMALIZATION": 2}),
])
def test_layer_and_raw_op_become_int8_ops_in_the_target_s_form(tmp_path, target, form) -> None:
    inp = k.Input((8,))
    a = k.layers.UnitNormalization()(k.layers.Dense(8)(inp))
    b = k.ops.normalize(k.layers.Dense(8)(inp), axis=-1, order=2)
    model = k.Model(inp, k.layers.Add()([a, b]))
    x = RNG.normal(size=(64, 8)).astype("float32")
    before = model.predict(x, verbose=0)
    ops, floats = int8_ops(model, x)
    assert "SQUARE" in ops and floats
    model, matches, _ = rewritten(model, "l2-normalize", target)
    assert len(matches) == 2
    assert max_diff(model.predict(x, verbose=0), before) < SAME_FLOAT_TOL
    ops, floats = int8_ops(model, x)
    assert {op: ops.get(op) for op in form} == form and not floats, (ops, floats)
    assert "SQUARE" not in ops
    model.save(tmp_path / "m.keras")  # the replacement layers are registered
    reloaded = k.saving.load_model(tmp_path / "m.keras")
    assert max_diff(reloaded.predict(x, verbose=0), before) < SAME_FLOAT_TOL


def test_the_cpu_form_s_output_scale_fits_the_values_not_1_over_128() -> None:
    """L2_NORMALIZATION's int8 output step is 1/128 whatever the values span; a 64-d unit
    vector spans about +-0.4, so the CPU form's output step is several times finer."""
    inp = k.Input((64,))
    model = k.Model(inp, k.layers.UnitNormalization()(k.layers.Dense(64)(inp)))
    x = RNG.normal(size=(64, 64)).astype("float32")
    scales = {}
    for target in ("rpi", "coral"):
        new, _, undo = rewritten(model, "l2-normalize", target)
        graph = tflite_graph.parse(convert_model(new, "int8", x, 1, Quiet()))
        scales[target] = graph.tensors[graph.outputs[0]].scale
        undo()
    assert scales["coral"] == 1 / 128 and scales["rpi"] < scales["coral"] / 2, scales
