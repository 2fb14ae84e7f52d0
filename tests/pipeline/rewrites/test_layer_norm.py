"""layer-norm: the same float outputs as Keras' LayerNormalization, int8 without a float op;
the coral form through L2_NORMALIZATION."""

from __future__ import annotations

import numpy as np
from rewrite_checks import int8_ops, max_diff, rewritten

from pipeline.tfenv import keras

# float32 layer norm computed two ways differs by rounding; with epsilon left out (the coral
# form) by at most eps/var relative, about 1e-3 / 1 here.
CPU_FORM_TOL = 1e-5
CORAL_FORM_TOL = 2e-3
k = keras()
RNG = np.random.default_rng(0)


def _model():
    inp = k.Input((5, 16))
    h = k.layers.Dense(16)(inp)
    ln = k.layers.LayerNormalization(name="ln")
    model = k.Model(inp, k.layers.Dense(4)(ln(h)))
    ln.set_weights([RNG.uniform(0.5, 1.5, 16).astype("float32"),
                    RNG.normal(size=16).astype("float32") * 0.1])
    return model


def test_cpu_form_is_the_same_layer_norm_and_integer_in_int8() -> None:
    model = _model()
    x = RNG.normal(size=(64, 5, 16)).astype("float32") * 3
    before = model.predict(x, verbose=0)
    ops, _ = int8_ops(model, x)
    assert "NEG" in ops  # Keras' own form: the float island
    model, matches, undo = rewritten(model, "layer-norm")
    assert [m.path for m in matches] == ["ln"]
    assert max_diff(model.predict(x, verbose=0), before) < CPU_FORM_TOL
    ops, floats = int8_ops(model, x)
    assert not floats and "NEG" not in ops and "RSQRT" in ops, (ops, floats)
    undo()
    assert type(model.get_layer("ln")) is k.layers.LayerNormalization


def test_coral_form_uses_only_edge_tpu_ops() -> None:
    model = _model()
    x = RNG.normal(size=(64, 5, 16)).astype("float32") * 3
    before = model.predict(x, verbose=0)
    model, _, _ = rewritten(model, "layer-norm", target="coral")
    assert max_diff(model.predict(x, verbose=0), before) < CORAL_FORM_TOL
    ops, floats = int8_ops(model, x)
    assert not floats and "L2_NORMALIZATION" in ops and "RSQRT" not in ops, (ops, floats)
