"""Stage approximate: GELU is found in every form Keras puts it, replaced, saved and reloaded."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pipeline import approximations
from pipeline.approximate import find_sites, gelu_form, replace_gelu, run
from pipeline.progress import Quiet
from pipeline.tfenv import keras, tensorflow

k = keras()
tf = tensorflow()
RNG = np.random.default_rng(0)
# Replacing GELU with `lut` (exact GELU again) must not change a float32 model beyond rounding.
SAME_MODEL_TOL = 1e-5


def classic_tanh_gelu(x):
    """The classic hand-written GELU of Keras examples, with tf.math.pow."""
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.math.pow(x, 3))))


@k.saving.register_keras_serializable(package="tests")
class Block(k.layers.Layer):
    """A custom layer with a GELU Dense nested inside."""

    def __init__(self, units: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.inner = k.layers.Dense(units, activation="gelu", name="inner")

    def call(self, x):
        return self.inner(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


def _models() -> dict[str, object]:
    inp = k.Input((6,))
    nested = k.Sequential([k.layers.Dense(8), k.layers.Activation("gelu")], name="nested_seq")
    seq_inp = k.Input((4, 6))
    return {
        "dense_activation": k.Model(inp, k.layers.Dense(3)(k.layers.Dense(8, activation="gelu")(inp))),
        "activation_layer": k.Model(inp, k.layers.Activation("gelu")(k.layers.Dense(8)(inp))),
        "tanh_gelu": k.Model(inp, k.layers.Dense(8, activation=lambda x: k.activations.gelu(x, approximate=True))(inp)),
        "classic_pow_callable": k.Model(inp, k.layers.Dense(8, activation=classic_tanh_gelu)(inp)),
        "nested_sequential": k.Model(inp, nested(inp)),
        "nested_custom_layer": k.Model(inp, Block(name="block")(inp)),
        "lambda_layer": k.Model(inp, k.layers.Lambda(lambda x: k.activations.gelu(x))(
            k.layers.Dense(8)(inp))),
        "conv1d": k.Model(seq_inp, k.layers.Conv1D(4, 3, activation="gelu")(seq_inp)),
        "einsum_dense": k.Model(seq_inp, k.layers.EinsumDense("abc,cd->abd", output_shape=(None, 5),
                                                              activation="gelu")(seq_inp)),
    }


@pytest.mark.parametrize("form", list(_models()))
def test_every_form_is_found_and_replaced(form: str) -> None:
    model = _models()[form]
    x = RNG.standard_normal((4, *model.inputs[0].shape[1:])).astype(np.float32)
    before = model.predict(x, verbose=0)
    sites = replace_gelu(model, approximations.get("sigmoid"))
    assert len(sites) == 1, sites
    assert find_sites(model) == []  # nothing left that computes GELU
    after = model.predict(x, verbose=0)
    assert not np.allclose(before, after, atol=1e-4)  # the sigmoid form really runs now


def test_non_gelu_activations_are_not_sites() -> None:
    for fn in ("relu", "linear", "sigmoid", "swish", approximations.get("sigmoid").keras_fn):
        assert gelu_form(k.activations.get(fn) if isinstance(fn, str) else fn) is None
    assert gelu_form(lambda x: x[0]) is None  # not elementwise
    assert gelu_form(None) is None


def test_forms_are_told_apart() -> None:
    assert gelu_form(k.activations.get("gelu")) == "exact"
    assert gelu_form(classic_tanh_gelu) == "tanh"


def test_replaced_model_saves_loads_and_keeps_weights(tmp_path: Path) -> None:
    model = _models()["nested_custom_layer"]
    model.save(tmp_path / "model_float.keras")
    x = RNG.standard_normal((32, 6)).astype(np.float32)
    reporter = Quiet()
    result = run(tmp_path, tmp_path / "model_float.keras", "lut", x, reporter)
    assert result.replaced == 1 and result.sites[0].path == "block/inner.activation"
    reloaded = k.saving.load_model(tmp_path / "model_approx.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=SAME_MODEL_TOL)
    assert any("replaced 1 GELU" in m for m in reporter.infos)


def test_model_without_gelu_warns(tmp_path: Path) -> None:
    inp = k.Input((6,))
    k.Model(inp, k.layers.Dense(2, activation="relu")(inp)).save(tmp_path / "model_float.keras")
    reporter = Quiet()
    result = run(tmp_path, tmp_path / "model_float.keras", "sigmoid",
                 np.zeros((4, 6), np.float32), reporter)
    assert result.replaced == 0
    assert any("no GELU found" in w for w in reporter.warnings)
    assert (tmp_path / "model_approx.keras").is_file()
