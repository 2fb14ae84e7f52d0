"""masked-pooling: no int8 DIV and no float CAST; the sum form before L2 normalisation gives
the same direction, the mean form the same values."""

from __future__ import annotations

import numpy as np
from rewrite_checks import int8_ops, max_diff, rewritten

from pipeline.tfenv import keras

SAME_FLOAT_TOL = 1e-5
k = keras()
RNG = np.random.default_rng(0)


def _model(normalised: bool):
    x = k.Input((6, 8), name="x")
    mask = k.Input((6,), dtype="int32", name="mask")
    h = k.layers.Dense(8)(x)
    pooled = k.layers.GlobalAveragePooling1D(name="pool")(h, mask=k.ops.cast(mask, "bool"))
    out = k.layers.UnitNormalization(name="unit")(pooled) if normalised else pooled
    return k.Model([x, mask], out)


def _data():
    x = RNG.normal(size=(64, 6, 8)).astype("float32")
    mask = (np.arange(6)[None] < RNG.integers(1, 7, 64)[:, None]).astype("int32")
    return [x, mask]


def test_sum_form_before_l2_normalisation() -> None:
    model = _model(normalised=True)
    x = _data()
    before = model.predict(x, verbose=0)
    ops, _ = int8_ops(model, x)
    assert "DIV" in ops  # Keras' masked mean
    model, matches, _ = rewritten(model, "masked-pooling")
    assert matches[0].extra["form"] == "sum"
    model, _, _ = rewritten(model, "l2-normalize")
    assert max_diff(model.predict(x, verbose=0), before) < SAME_FLOAT_TOL
    ops, floats = int8_ops(model, x)
    assert not floats and "DIV" not in ops and "RSQRT" in ops, (ops, floats)


def test_mean_form_alone() -> None:
    model = _model(normalised=False)
    x = _data()
    before = model.predict(x, verbose=0)
    model, matches, _ = rewritten(model, "masked-pooling")
    assert matches[0].extra["form"] == "mean"
    assert max_diff(model.predict(x, verbose=0), before) < SAME_FLOAT_TOL
    ops, floats = int8_ops(model, x)
    assert not floats and "DIV" not in ops, (ops, floats)
