"""`python -m edge trace`: one sample with every tensor kept, raw, on either kind of kernels, and
the tensors that share a buffer because an op ran in place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.tflite import graph

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def in_place_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x -> two Dense -> Add -> Softmax -> Dense: tflite-runtime runs the ADD in the first
    Dense's buffer and the SOFTMAX in the same one."""
    from pipeline.progress import Quiet
    from pipeline.tfenv import keras
    from pipeline.tflite.converter import convert_model

    k = keras()
    k.utils.set_random_seed(3)
    inp = k.Input((8,))
    added = k.layers.Add()([k.layers.Dense(16)(inp), k.layers.Dense(16)(inp)])
    model = k.Model(inp, k.layers.Dense(3)(k.layers.Softmax()(added)))
    calib = np.random.default_rng(3).standard_normal((64, 8)).astype(np.float32)
    path = tmp_path_factory.mktemp("trace") / "in_place.tflite"
    path.write_bytes(convert_model(model, "int8", calib, 1, Quiet()))
    return path


def _edge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


@pytest.mark.parametrize("kernels", ["optimized", "reference"])
def test_trace_keeps_every_tensor_raw_and_names_shared_buffers(
        tmp_path: Path, in_place_model: Path, kernels: str) -> None:
    g = graph.read(in_place_model)
    outputs = [t for op in g.ops for t in op.outputs]
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "indices.txt").write_text(",".join(map(str, outputs)))
    proc = _edge("trace", "--model", str(in_place_model), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "t.npz"), "--indices", f"@{tmp_path / 'indices.txt'}",
                 "--kernels", kernels)
    assert proc.returncode == 0, proc.stderr[-2000:]
    about = json.loads(proc.stdout.strip().splitlines()[-1])
    assert about["kernels"] == kernels
    add, softmax = (next(op.outputs[0] for op in g.ops if op.name == name)
                    for name in ("ADD", "SOFTMAX"))
    assert any({add, softmax} <= set(group) for group in about["aliases"]), about["aliases"]
    with np.load(tmp_path / "t.npz") as t:
        assert {f"t{i}" for i in outputs} <= set(t.files)
        assert t[f"t{softmax}"].dtype == np.int8  # codes, not dequantized
        final = t["y0"]
    np.save(tmp_path / "x1.npy", x[:1])
    proc = _edge("run", "--model", str(in_place_model), "--input", str(tmp_path / "x1.npy"),
                 "--output", str(tmp_path / "y.npz"), "--runtime", "tflite-runtime")
    with np.load(tmp_path / "y.npz") as y:
        ran = y["y_raw"]
    if kernels == "optimized":  # keeping every tensor does not change what the model gives
        np.testing.assert_array_equal(final, ran)


def test_bad_indices_are_one_line(tmp_path: Path, in_place_model: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 8), np.float32))
    proc = _edge("trace", "--model", str(in_place_model), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "t.npz"), "--indices", "3,x")
    assert proc.returncode == 2 and "--indices takes integers" in proc.stderr
