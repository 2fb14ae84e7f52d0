"""`build` runs the stages on one context: each Keras model is opened at most twice (the
user's model, the replaced model after its save) and the converted model is parsed once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph

pytestmark = pytest.mark.slow  # end-to-end builds

SAMPLES = 300


def test_one_build_opens_each_model_once(cli, tmp_path: Path, monkeypatch) -> None:
    k = keras()
    inp = k.Input((6,), name="x")
    model = k.Model(inp, k.layers.Dense(2, name="y")(k.layers.Dense(16, activation="gelu")(inp)))
    model.save(tmp_path / "user.keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 6)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=rng.normal(size=(SAMPLES, 2)).astype(np.float32))

    loads: list[str] = []
    real_load = k.saving.load_model

    def counting_load(path, *args, **kwargs):
        loads.append(Path(path).name)
        return real_load(path, *args, **kwargs)

    parses: list[bytes] = []
    real_parse = tflite_graph.parse

    def counting_parse(data, source="model"):
        parses.append(bytes(data))
        return real_parse(data, source)

    monkeypatch.setattr(k.saving, "load_model", counting_load)
    monkeypatch.setattr(tflite_graph, "parse", counting_parse)
    out = tmp_path / "b"
    r = cli("build", "--model", tmp_path / "user.keras", "--data", tmp_path / "d.npz",
            "--out", out, "--sensitivity", "1")
    assert r.code == 0, r
    assert loads[0] == "user.keras" and len(loads) == 2, loads  # original, replaced
    assert "model_approx" in loads[1]
    final = (out / "model.tflite").read_bytes()
    assert sum(p == final for p in parses) == 1
