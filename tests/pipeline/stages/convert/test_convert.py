"""Stage convert and the graph checks, on real TFLite conversions of tiny models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline import approximations
from pipeline.errors import UserError
from pipeline.progress import Quiet
from pipeline.tfenv import keras, tensorflow
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import quantize_modes
from pipeline.tflite.checks import run_checks
from pipeline.tflite.converter import convert_model

# int16 activations: float's outputs within this share of their largest magnitude
INT16_TOL = 1e-2
k = keras()
tf = tensorflow()
CALIB = np.random.default_rng(1).uniform(-4, 4, (64, 8)).astype(np.float32)


def _model(activation) -> object:
    inp = k.Input((8,))
    return k.Model(inp, k.layers.Dense(4)(k.layers.Dense(16, activation=activation)(inp)))


def classic_tanh_gelu(x):
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.math.pow(x, 3))))


def rounded_tanh_gelu(x):
    """The tanh form with rounded constants, as often hand-written: no fusion, POW stays float."""
    return 0.5 * x * (1.0 + tf.tanh(0.7978 * (x + 0.0447 * tf.math.pow(x, 3))))


def _checks(model, mode: str, approx: str) -> dict[str, object]:
    graph = tflite_graph.parse(convert_model(model, mode, CALIB, 1, Quiet()))
    results = run_checks(graph, quantize_modes.get(mode), approximations.get(approx))
    return {"graph": graph, **{r.name: r for r in results}}


def test_int8_lut_is_integer_with_gelu_op() -> None:
    out = _checks(_model("gelu"), "int8", "lut")
    graph = out["graph"]
    assert graph.op_counts() == {"FULLY_CONNECTED": 2, "GELU": 1}
    assert [graph.tensors[i].dtype for i in graph.inputs + graph.outputs] == ["INT8", "INT8"]
    assert graph.tensors[graph.inputs[0]].shape == (1, 8)  # fixed batch 1
    assert all(out[n].passed for n in ("no_float_island", "no_gelu_op_after_replacement",
                                       "io_types_match"))


def test_uint8_io() -> None:
    graph = _checks(_model(approximations.get("sigmoid").keras_fn), "uint8", "sigmoid")["graph"]
    assert [graph.tensors[i].dtype for i in graph.inputs + graph.outputs] == ["UINT8", "UINT8"]
    assert "GELU" not in graph.op_counts() and "LOGISTIC" in graph.op_counts()


def test_float_pow_island_is_reported() -> None:
    out = _checks(_model(rounded_tanh_gelu), "int8", "sigmoid")
    check = out["no_float_island"]
    assert not check.passed
    assert "POW" in check.message and "DEQUANTIZE" in check.message


def test_classic_pow_gelu_with_exact_constants_is_fused_into_gelu_op() -> None:
    out = _checks(_model(classic_tanh_gelu), "int8", "sigmoid")
    assert "POW" not in out["graph"].op_counts()
    assert not out["no_gelu_op_after_replacement"].passed


def test_fused_back_gelu_is_reported() -> None:
    # The converter pattern-matches the tanh GELU formula and fuses it back into the GELU op.
    fused = lambda x: k.activations.gelu(x, approximate=True)  # noqa: E731
    out = _checks(_model(fused), "int8", "sigmoid")
    assert not out["no_gelu_op_after_replacement"].passed
    assert "150" in out["no_gelu_op_after_replacement"].message


def test_float_modes_skip_integer_checks() -> None:
    out = _checks(_model("gelu"), "float16", "lut")
    assert out["no_float_island"].passed


def test_not_a_flatbuffer() -> None:
    with pytest.raises(UserError, match="not a TFLite flatbuffer"):
        tflite_graph.parse(b"hello world, not a model")


def test_open_dimensions_take_the_data_shape() -> None:
    """keras_hub backbones leave the sequence axis open (None): TFLite needs it fixed, and the
    data says what it is."""
    inp = k.Input((None, 4), name="tokens")
    model = k.Model(inp, k.layers.Dense(2, activation="gelu")(inp))
    reporter = Quiet()
    data = convert_model(model, "int8", np.zeros((4, 3, 4), np.float32), 1, reporter)
    graph = tflite_graph.parse(data)
    assert graph.tensors[graph.inputs[0]].shape == (1, 3, 4)
    assert any("tokens (None, 4) -> (3, 4)" in m for m in reporter.infos), reporter.infos


def test_int16x8_with_integer_inputs_goes_through_ai_edge_quantizer() -> None:
    """TensorFlow's 16x8 quantizer stops after calibrating with "Empty min/max for tensor
    token_ids"; ai-edge-quantizer makes the model: int16 activations, int8 weights, the token
    ids integer, no float op, float's outputs within int16 rounding, the same bytes again."""
    from ai_edge_litert.interpreter import Interpreter

    k.utils.set_random_seed(0)
    tokens = k.Input((4,), dtype="int32", name="token_ids")
    # (Keras' own layer norm would keep a float NEG: the build's layer-norm rewrite removes it)
    hidden = k.layers.Dense(8, activation="gelu")(k.layers.Embedding(10, 8)(tokens))
    model = k.Model(tokens, k.layers.Dense(2)(hidden))
    x = np.random.default_rng(0).integers(0, 10, (32, 4)).astype(np.int32)
    reporter = Quiet()
    data = convert_model(model, "int16x8", x, 1, reporter)
    graph = tflite_graph.parse(data)
    assert graph.tensors[graph.inputs[0]].dtype == "INT32"
    assert not [op.name for op in graph.ops if any(
        graph.tensors[i].dtype == "FLOAT32" for i in (*op.inputs, *op.outputs) if i >= 0)]
    assert any("ai-edge-quantizer" in m for m in reporter.infos), reporter.infos
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    out = interpreter.get_output_details()[0]
    scale, zero = out["quantization"]
    reference = np.asarray(model(x))
    for i in range(len(x)):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[i:i + 1])
        interpreter.invoke()
        got = (interpreter.get_tensor(out["index"]).astype(np.float64) - zero) * scale
        assert np.max(np.abs(got - reference[i])) <= INT16_TOL * np.abs(reference).max()
    assert convert_model(model, "int16x8", x, 1, Quiet()) == data


def test_calibration_id_beyond_the_table_is_bad_input_in_words() -> None:
    """An id the model shifts before its lookup has no up-front check (pipeline.inputs.tables):
    the calibrator's GATHER fails; the user hears it as bad data, the runtime's run-together
    messages ("out of boundsNode number") separated."""
    ids = k.Input((4,), dtype="int32", name="ids")
    model = k.Model(ids, k.layers.Dense(2)(k.layers.Embedding(10, 8)(ids + 1)))
    calib = np.zeros((4, 4), np.int32)
    calib[0, 0] = 50
    with pytest.raises(UserError, match="index beyond the table") as exc:
        convert_model(model, "int8", calib, 1, Quiet())
    assert "boundsNode" not in str(exc.value) and "bounds; Node number" in str(exc.value)
