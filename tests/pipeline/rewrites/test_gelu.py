"""The GELU rewrite: every form Keras puts GELU in is found once per GELU it computes, replaced,
and the count agrees with the GELU ops a float conversion of the original model has."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import NestedGelu

from pipeline import approximations
from pipeline.inputs.signature import describe
from pipeline.progress import Quiet
from pipeline.rewrites.gelu import find, gelu_form
from pipeline.stages.approximate import replace_gelu
from pipeline.tfenv import keras, tensorflow
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model

k = keras()
tf = tensorflow()
RNG = np.random.default_rng(0)


def classic_tanh_gelu(x):
    """The classic hand-written GELU of Keras examples, with tf.math.pow."""
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.math.pow(x, 3))))


@k.saving.register_keras_serializable(package="tests")
class Configures(k.layers.Layer):
    """Like keras_hub's TransformerEncoder: keeps `activation` only to hand it to an inner
    Dense, which computes it. One site, not two."""

    def __init__(self, activation: str = "gelu", **kwargs) -> None:
        super().__init__(**kwargs)
        self.activation = k.activations.get(activation)

    def build(self, input_shape) -> None:
        self.dense = k.layers.Dense(8, activation=self.activation, name="dense")
        self.dense.build(input_shape)

    def call(self, x):
        return self.dense(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": k.activations.serialize(self.activation)}


def _raw_op_model():
    inp = k.Input((6,))
    h = k.ops.gelu(k.layers.Dense(8)(inp))
    return k.Model(inp, k.activations.gelu(k.layers.Dense(8)(h), approximate=True))


def _nested_raw_ops():
    inner_in = k.Input((6,))
    inner = k.Model(inner_in, k.ops.gelu(k.layers.Dense(8)(inner_in)), name="inner_net")
    inp = k.Input((6,))
    return k.Model(inp, k.layers.Dense(3)(inner(inp)))


def _shared_layer():
    inp = k.Input((6,))
    shared = k.layers.Dense(6, activation="gelu", name="shared")
    return k.Model(inp, shared(shared(inp)))


def _keras_hub_encoder():
    import keras_hub

    inp = k.Input((4, 8))
    enc = keras_hub.layers.TransformerEncoder(16, 2, activation="gelu", name="encoder")
    return k.Model(inp, enc(inp))


MODELS = {
    # name -> (builder, GELU evaluations per call)
    "dense_activation": (lambda: (lambda i: k.Model(i, k.layers.Dense(3)(
        k.layers.Dense(8, activation="gelu")(i))))(k.Input((6,))), 1),
    "activation_layer": (lambda: (lambda i: k.Model(i, k.layers.Activation("gelu")(
        k.layers.Dense(8)(i))))(k.Input((6,))), 1),
    "tanh_lambda_activation": (lambda: (lambda i: k.Model(i, k.layers.Dense(
        8, activation=lambda x: k.activations.gelu(x, approximate=True))(i)))(k.Input((6,))), 1),
    "classic_pow_callable": (lambda: (lambda i: k.Model(i, k.layers.Dense(
        8, activation=classic_tanh_gelu)(i)))(k.Input((6,))), 1),
    "nested_sequential": (lambda: (lambda i: k.Model(i, k.Sequential(
        [k.layers.Dense(8), k.layers.Activation("gelu")], name="nested_seq")(i)))(
        k.Input((6,))), 1),
    "nested_custom_layer": (lambda: (lambda i: k.Model(i, NestedGelu(name="block")(i)))(
        k.Input((6,))), 1),
    "configuring_attribute": (lambda: (lambda i: k.Model(i, Configures(name="conf")(i)))(
        k.Input((6,))), 1),
    "lambda_layer": (lambda: (lambda i: k.Model(i, k.layers.Lambda(
        lambda x: k.activations.gelu(x))(k.layers.Dense(8)(i))))(k.Input((6,))), 1),
    "conv1d": (lambda: (lambda i: k.Model(i, k.layers.Conv1D(4, 3, activation="gelu")(i)))(
        k.Input((4, 6))), 1),
    "einsum_dense": (lambda: (lambda i: k.Model(i, k.layers.EinsumDense(
        "abc,cd->abd", output_shape=(None, 5), activation="gelu")(i)))(k.Input((4, 6))), 1),
    "raw_ops": (_raw_op_model, 2),
    "nested_raw_ops": (_nested_raw_ops, 1),
    "shared_layer": (_shared_layer, 2),
    "keras_hub_encoder": (_keras_hub_encoder, 1),
}


def _x(model, n: int = 4) -> np.ndarray:
    return RNG.standard_normal((n, *model.inputs[0].shape[1:])).astype(np.float32)


def _run(model, x):
    signature = describe(model)
    return lambda m: signature.call(m, x)


def _gelu_ops_in_float_conversion(model, x) -> int:
    data = convert_model(model, "none", x, 1, Quiet())
    return tflite_graph.parse(data).op_counts().get("GELU", 0)


@pytest.mark.parametrize("form", list(MODELS))
def test_each_gelu_is_found_once_and_replaced(form: str) -> None:
    build, evaluations = MODELS[form]
    model = build()
    x = _x(model)
    gelu_ops = _gelu_ops_in_float_conversion(model, x)
    before = model.predict(x, verbose=0)
    model, sites = replace_gelu(model, approximations.get("sigmoid"), x[:2])
    assert sum(s.calls for s in sites) == evaluations == gelu_ops, (sites, gelu_ops)
    assert find(model, _run(model, x[:2])).sites == []  # nothing left that computes GELU
    after = model.predict(x, verbose=0)
    assert not np.allclose(before, after, atol=1e-4)  # the sigmoid form really runs now
    assert _gelu_ops_in_float_conversion(model, x) == 0


def test_configuring_attribute_is_replaced_so_the_layer_rebuilds_with_the_approximation(
        tmp_path) -> None:
    model, sites = replace_gelu(MODELS["configuring_attribute"][0](),
                                approximations.get("sigmoid"), np.zeros((2, 6), np.float32))
    assert [s.path for s in sites] == ["conf/dense.activation"]
    model.save(tmp_path / "m.keras")
    reloaded = k.saving.load_model(tmp_path / "m.keras")
    assert gelu_form(reloaded.get_layer("conf").dense.activation) is None


def test_raw_ops_become_named_activation_layers(tmp_path) -> None:
    original = _nested_raw_ops()
    op = next(o for o in original.get_layer("inner_net").operations if type(o).__name__ == "Gelu")
    model, sites = replace_gelu(original, approximations.get("sigmoid"),
                                np.zeros((2, 6), np.float32))
    assert [(s.path, s.kind, s.layer_class) for s in sites] == [
        (f"inner_net/{op.name}.activation", "op", "Gelu")]
    assert type(model.get_layer("inner_net").get_layer(op.name)).__name__ == "Activation"
    model.save(tmp_path / "m.keras")  # serialisable: the approximation is a registered function
    reloaded = k.saving.load_model(tmp_path / "m.keras")
    x = _x(reloaded)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_non_gelu_functions_are_not_sites() -> None:
    for fn in ("relu", "linear", "sigmoid", "swish", approximations.get("sigmoid").keras_fn):
        assert gelu_form(k.activations.get(fn) if isinstance(fn, str) else fn) is None
    assert gelu_form(lambda x: x[0]) is None  # not elementwise
    assert gelu_form(None) is None


def test_forms_are_told_apart() -> None:
    assert gelu_form(k.activations.get("gelu")) == "exact"
    assert gelu_form(classic_tanh_gelu) == "tanh"
