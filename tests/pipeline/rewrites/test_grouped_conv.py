"""grouped-conv: Conv2D(groups=channels) becomes the same DepthwiseConv2D (not CONV_2D v6)."""

from __future__ import annotations

import numpy as np
from rewrite_checks import int8_ops, max_diff, rewritten

from pipeline.tfenv import keras

SAME_FLOAT_TOL = 1e-5
k = keras()
RNG = np.random.default_rng(0)


def test_grouped_conv_becomes_depthwise() -> None:
    inp = k.Input((8, 8, 6))
    h = k.layers.Conv2D(6, 3, padding="same", groups=6, activation="relu", name="dw")(inp)
    model = k.Model(inp, k.layers.Conv2D(4, 1)(h))
    x = RNG.normal(size=(32, 8, 8, 6)).astype("float32")
    before = model.predict(x, verbose=0)
    model, matches, _ = rewritten(model, "grouped-conv")
    assert [m.path for m in matches] == ["dw"]
    assert type(model.get_layer("dw")).__name__ == "DepthwiseConv2D"
    assert max_diff(model.predict(x, verbose=0), before) < SAME_FLOAT_TOL
    ops, floats = int8_ops(model, x)
    assert ops.get("DEPTHWISE_CONV_2D") == 1 and ops.get("CONV_2D") == 1 and not floats
