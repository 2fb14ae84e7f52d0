"""Shared checks of the rewrite tests: apply a rewrite, compare float outputs, convert to int8."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import rewrites
from pipeline.progress import Quiet
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model
from pipeline.tflite.graph import FLOAT_TYPES


def rewritten(model: Any, name: str, target: str = "rpi") -> tuple[Any, list[Any], Any]:
    """(model with the rewrite applied, its matches, undo)."""
    opts = rewrites.Options(target=target)
    matches = rewrites.get(name).find(model, opts)
    new, undo = rewrites.get(name).apply(model, matches, opts)
    return new, matches, undo


def int8_ops(model: Any, x: Any) -> tuple[dict[str, int], list[str]]:
    """(op counts of the int8 conversion, ops touching a float tensor)."""
    graph = tflite_graph.parse(convert_model(model, "int8", x, 1, Quiet()))
    floats = sorted({op.name for op in graph.ops
                     if any(graph.tensors[i].dtype in FLOAT_TYPES
                            for i in op.inputs + op.outputs if i >= 0)})
    return graph.op_counts(), floats


def max_diff(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def post_ln_chain(outlier_dims: list[int]) -> Any:
    """An embedding layer norm and two post-LN keras_hub encoders (seeded); the layer norms'
    gamma and beta make `outlier_dims` 30x the rest, the sublayers' outputs small, as in a
    trained BERT."""
    import keras_hub

    from pipeline.tfenv import keras

    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((6, 16), name="x")
    x = k.layers.LayerNormalization(name="emb_ln")(k.layers.Dense(16, name="emb")(inp))
    x = k.layers.Dropout(0.1)(x)
    encoders = [keras_hub.layers.TransformerEncoder(32, 2, name=f"enc{i}") for i in range(2)]
    for encoder in encoders:
        x = encoder(x)
    model = k.Model(inp, k.layers.Dense(4, name="out")(x))
    norms = [model.get_layer("emb_ln")] + [n for e in encoders for n in (
        e._self_attention_layer_norm, e._feedforward_layer_norm)]
    for norm in norms[:-1]:
        gamma, beta = norm.gamma.numpy(), norm.beta.numpy()
        gamma[outlier_dims], beta[outlier_dims] = 30.0, 10.0
        norm.gamma.assign(gamma)
        norm.beta.assign(beta)
    for e in encoders:
        for dense in (e._self_attention_layer._output_dense, e._feedforward_output_dense):
            dense.kernel.assign(dense.kernel.numpy() * 0.05)
    return model
