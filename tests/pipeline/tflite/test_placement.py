"""Where int8 goes: the placement decided per model, target and flag, and the hybrid recipe's
weights per runtime."""

from __future__ import annotations

import pytest

from pipeline.tfenv import keras
from pipeline.tflite import hybrid, placement

k = keras()


def mlp() -> object:
    inp = k.Input((8,))
    return k.Model(inp, k.layers.Dense(2)(k.layers.Dense(16, activation="gelu")(inp)))


def transformer() -> object:
    """One block: attention, layer norm, a GELU feed-forward; the forms keras_hub nests."""
    inp = k.Input((6, 16))
    x = k.layers.LayerNormalization()(inp + k.layers.MultiHeadAttention(2, 8)(inp, inp))
    return k.Model(inp, k.layers.Dense(16)(k.layers.Dense(32, activation="gelu")(x)))


def test_a_model_without_fragile_ops_stays_all_integer() -> None:
    where = placement.decide(mlp(), "int8", accelerator=False, integer_only=False)
    assert where.kind == placement.INTEGER


def test_a_transformer_on_a_cpu_target_gets_its_matrix_ops_int8_and_the_rest_float() -> None:
    where = placement.decide(transformer(), "int8", accelerator=False, integer_only=False)
    assert where.kind == placement.MATMULS
    assert "LayerNormalization" in where.reason and "MultiHeadAttention" in where.reason


def test_nested_fragile_layers_are_found() -> None:
    inner = transformer()
    inp = k.Input((6, 16))
    outer = k.Model(inp, k.layers.Dense(3)(inner(inp)))
    assert placement.fragile_layers(outer)["LayerNormalization"] == 1


@pytest.mark.parametrize("accelerator,integer_only,mode", [
    (True, False, "int8"),    # coral, ethos-u: integer only
    (False, True, "int8"),    # --integer-only
    (False, False, "int16x8"),  # another mode sets every op's precision itself
])
def test_integer_wherever_the_target_the_user_or_the_mode_says_so(accelerator, integer_only,
                                                                   mode) -> None:
    assert placement.decide(transformer(), mode, accelerator, integer_only).kind == \
        placement.INTEGER


def test_hybrid_weights_per_runtime() -> None:
    """tflite-runtime 2.14 gives wrong outputs with per-channel hybrid weights."""
    assert placement.weights("litert") == "CHANNELWISE"
    assert placement.weights("tflite-runtime") == "TENSORWISE"
    recipe = hybrid.recipe(placement.weights("tflite-runtime"))
    assert {r["operation"] for r in recipe} == set(placement.MATRIX_OPS)
    assert {r["op_config"]["weight_tensor_config"]["granularity"] for r in recipe} == \
        {"TENSORWISE"}
