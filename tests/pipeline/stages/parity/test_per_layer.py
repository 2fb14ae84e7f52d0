"""Per-layer parity against an independent computation: the float side from the weights in
numpy, the int8 side read by a separate script with LiteRT's own tensor API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from pipeline.approximations import gelu_exact
from pipeline.progress import Quiet
from pipeline.stages.parity import per_layer as layers
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model

# The two computations differ only by float32 vs float64 rounding.
METRIC_RTOL = 1e-4
SAMPLES = 64

READ_TENSOR = """
import sys, json, numpy as np
from ai_edge_litert.interpreter import Interpreter
model, name, xs = sys.argv[1], sys.argv[2], np.load(sys.argv[3])
it = Interpreter(model_path=model, experimental_preserve_all_tensors=True)
it.allocate_tensors()
inp = it.get_input_details()[0]
t = next(d for d in it.get_tensor_details() if d["name"] == name)
s_in, z_in = inp["quantization"]
s, z = t["quantization"]
out = []
for x in xs:
    q = np.clip(np.round(x[None] / s_in) + z_in, -128, 127).astype(np.int8)
    it.set_tensor(inp["index"], q)
    it.invoke()
    out.append(((it.get_tensor(t["index"]).astype(np.float64) - z) * s).ravel())
np.save(sys.argv[4], np.stack(out))
"""


def test_per_layer_matches_an_independent_computation(tmp_path: Path) -> None:
    k = keras()
    inp = k.Input((6,))
    hidden = k.layers.Dense(16, activation="gelu", name="hidden")(inp)
    model = k.Model(inp, k.layers.Dense(3, name="head")(hidden))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 6)).astype(np.float32)
    path = tmp_path / "m.tflite"
    path.write_bytes(convert_model(model, "int8", x, 1, Quiet()))

    result = layers.per_layer(model, tflite_graph.read(path), path, x, "litert", {"hidden"},
                              Quiet())
    rows = {r.layer: r for r in result.layers}
    assert set(rows) == {"hidden", "head"} and rows["hidden"].gelu_site
    assert not result.unmatched

    w, b = (np.asarray(v, np.float64) for v in model.get_layer("hidden").get_weights())
    ref = gelu_exact(x.astype(np.float64) @ w + b)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", READ_TENSOR, str(path), rows["hidden"].tensor_name,
                    str(tmp_path / "x.npy"), str(tmp_path / "q.npy")], check=True,
                   capture_output=True)
    q = np.load(tmp_path / "q.npy")
    err = q - ref
    expected = {
        "max_abs_error": np.max(np.abs(err)),
        "mean_abs_error": np.mean(np.abs(err)),
        "rmse": np.sqrt(np.mean(err**2)),
        "snr_db": 10 * np.log10(np.sum(ref**2) / np.sum(err**2)),
    }
    hidden_row = rows["hidden"]
    for name, value in expected.items():
        assert np.isclose(getattr(hidden_row.metrics, name), value, rtol=METRIC_RTOL), name
    assert np.isclose(hidden_row.rmse_over_scale, expected["rmse"] / hidden_row.scale,
                      rtol=METRIC_RTOL)
    assert result.layers[0].metrics.snr_db <= result.layers[-1].metrics.snr_db  # worst first
    json.loads(result.model_dump_json())  # plain data


def test_a_fused_tensor_is_named_after_the_op_that_wrote_it() -> None:
    """MiniLM's embeddings sum is one ADD whose output is named after every op fused into it;
    it holds the sum, not the position embedding's output."""
    from types import SimpleNamespace as NS

    fused = ("m/bert/embeddings_add/Add_1;m/bert/position_embedding/BroadcastTo;"
             "m/bert/embeddings_add/Add")
    graph = NS(tensors=[NS(name=fused, shape=(1, 4, 8)),
                        NS(name="m/bert/position_embedding/Gather", shape=(1, 4, 8))],
               ops=[NS(outputs=[0]), NS(outputs=[1])])

    def record(path: str) -> NS:
        return NS(path=path, values=np.zeros((2, 32), np.float32))

    assert layers._candidates(graph, record("bert/embeddings_add")) == ([0], True)
    assert layers._candidates(graph, record("bert/position_embedding")) == ([1], True)
    graph.ops = graph.ops[:1]  # only the fused sum: the position embedding has no named tensor
    assert layers._candidates(graph, record("bert/position_embedding")) == ([0], False)
