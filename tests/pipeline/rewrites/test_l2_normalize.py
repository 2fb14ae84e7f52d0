"""l2-normalize: UnitNormalization and raw keras.ops.normalize become L2_NORMALIZATION."""

from __future__ import annotations

import numpy as np
from rewrite_checks import int8_ops, max_diff, rewritten

from pipeline.tfenv import keras

SAME_FLOAT_TOL = 1e-6
k = keras()
RNG = np.random.default_rng(0)


def test_layer_and_raw_op_become_the_builtin_op(tmp_path) -> None:
    inp = k.Input((8,))
    a = k.layers.UnitNormalization()(k.layers.Dense(8)(inp))
    b = k.ops.normalize(k.layers.Dense(8)(inp), axis=-1, order=2)
    model = k.Model(inp, k.layers.Add()([a, b]))
    x = RNG.normal(size=(64, 8)).astype("float32")
    before = model.predict(x, verbose=0)
    ops, floats = int8_ops(model, x)
    assert "SQUARE" in ops and floats
    model, matches, _ = rewritten(model, "l2-normalize")
    assert len(matches) == 2
    assert max_diff(model.predict(x, verbose=0), before) < SAME_FLOAT_TOL
    ops, floats = int8_ops(model, x)
    assert ops.get("L2_NORMALIZATION") == 2 and not floats, (ops, floats)
    model.save(tmp_path / "m.keras")  # the replacement layers are registered
    reloaded = k.saving.load_model(tmp_path / "m.keras")
    assert max_diff(reloaded.predict(x, verbose=0), before) < SAME_FLOAT_TOL
