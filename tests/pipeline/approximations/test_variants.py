"""The GELU approximation library: float bounds, I-BERT's figures, int8 ops and accuracy, Vela."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import approximations
from pipeline.approximations import Approximation
from pipeline.approximations.measure import (
    accepting_targets,
    float_error,
    int8_error,
    single_op_model,
)
from pipeline.check import check_model
from pipeline.progress import Quiet
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import quantize_modes
from pipeline.tflite.checks import no_float_island

# I-BERT (Kim et al. 2021) Table 1 prints 2 significant digits: allow half a unit of the last one.
IBERT_TABLE_1 = {"poly": (0.0082, 0.018), "hard": (0.031, 0.068), "sigmoid": (0.012, 0.020)}
IBERT_RMS_TOL, IBERT_MAX_TOL = 0.00005 * 10, 0.0005 * 2
# relu-corr must match the lookup table (issue #3): max + 0.05 LSB, mean + 0.02 LSB.
LUT_MAX_SLACK_LSB, LUT_MEAN_SLACK_LSB = 0.05, 0.02
INT8_RANGE = (-8.0, 8.0)


@pytest.mark.parametrize("name", approximations.names() + ["pwl:5"])
def test_float_error_within_documented_bound(name: str) -> None:
    approx = approximations.get(name)
    rms, mx = float_error(approx, -4.0, 4.0)
    assert rms <= approx.float_error[0] and mx <= approx.float_error[1], (rms, mx)


@pytest.mark.parametrize("name", list(IBERT_TABLE_1))
def test_ibert_table_1_reproduced(name: str) -> None:
    rms, mx = float_error(approximations.get(name), -4.0, 4.0)
    want_rms, want_max = IBERT_TABLE_1[name]
    assert abs(rms - want_rms) <= IBERT_RMS_TOL and abs(mx - want_max) <= IBERT_MAX_TOL, (rms, mx)


@pytest.mark.parametrize("name", approximations.names())
def test_int8_model_has_only_declared_ops(name: str) -> None:
    approx = approximations.get(name)
    graph = tflite_graph.parse(single_op_model(approx, (1, 64), *INT8_RANGE))
    ops = set(graph.op_counts())
    assert ops <= approx.int8_ops, f"{name}: {sorted(ops - approx.int8_ops)} not declared"
    assert ("GELU" in ops) == approx.uses_gelu_op
    assert no_float_island(graph, quantize_modes.get("int8"), approx) == []


@pytest.mark.vela
def test_relu_corr_matches_the_lookup_table_on_tflite_runtime() -> None:
    lut = int8_error(approximations.get("lut"), *INT8_RANGE, "tflite-runtime", Quiet())
    model = single_op_model(approximations.get("relu-corr"), (1, 256), *INT8_RANGE)
    ours = int8_error(approximations.get("relu-corr"), *INT8_RANGE, "tflite-runtime", Quiet(),
                      model)
    assert not ours["narrowed"] and not lut["narrowed"]
    assert ours["covered_range"][0] <= -7.9 and ours["covered_range"][1] >= 7.9
    assert ours["max_lsb"] <= lut["max_lsb"] + LUT_MAX_SLACK_LSB, (ours, lut)
    assert ours["mean_lsb"] <= lut["mean_lsb"] + LUT_MEAN_SLACK_LSB, (ours, lut)
    assert {"coral", "ethos-u"} <= set(accepting_targets(model, "relu-corr"))


def test_sigmoid_is_worse_than_the_lookup_table() -> None:
    """The measurement can fail: the naive Edge-TPU-legal variant is over 1 LSB."""
    sig = int8_error(approximations.get("sigmoid"), *INT8_RANGE, "tflite-runtime", Quiet())
    assert sig["max_lsb"] > 1.0


def test_narrowed_input_range_is_reported() -> None:
    def clipped(x):
        from keras import ops

        xc = ops.minimum(ops.maximum(x, -4.0), 4.0)
        return xc * ops.sigmoid(xc * 1.702)

    approx = Approximation(name="clip-input", summary="", reference=lambda x: x,
                           keras_fn=clipped, int8_ops=frozenset(), uses_gelu_op=False,
                           float_error=(1.0, 1.0))
    result = int8_error(approx, *INT8_RANGE, "tflite-runtime", Quiet())
    assert result["narrowed"] and result["covered_range"][1] < 4.1


@pytest.mark.vela
def test_relu_corr_is_all_npu_in_vela(tmp_path: Path) -> None:
    model = tmp_path / "relu_corr.tflite"
    model.write_bytes(single_op_model(approximations.get("relu-corr"), (1, 256), *INT8_RANGE))
    vela = Path(sys.executable).with_name("vela")  # installed by `make` ('.[vela]' extra)
    assert vela.exists(), "ethos-u-vela missing: pip install -e '.[vela]'"
    proc = subprocess.run([str(vela), str(model), "--accelerator-config", "ethos-u55-128",
                           "--output-dir", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"CPU operators = 0 \(0\.0%\)", proc.stdout), proc.stdout
    assert re.search(r"NPU operators = \d+ \(100\.0%\)", proc.stdout), proc.stdout


def test_pwl_knots_parameter() -> None:
    few, many = approximations.get("pwl:5"), approximations.get("pwl:17")
    assert float_error(many, -4, 4)[0] < float_error(few, -4, 4)[0]


@pytest.mark.parametrize("args, message", [
    (["--range", "3,1"], "LO must be less than HI"),
    (["--range", "a,b"], "takes LO,HI"),
    (["--shape", "1,0,4"], "positive integers"),
    (["--only", "nope"], "unknown GELU approximation"),
])
def test_approximations_bad_input(cli, args: list[str], message: str) -> None:
    r = cli("approximations", *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r


@pytest.mark.slow
def test_approximations_json_and_export(cli, tmp_path: Path) -> None:
    r = cli("approximations", "--only", "lut", "--only", "relu-corr", "--no-latency", "--json",
            "--export", tmp_path)
    assert r.code == 0, r
    rows = {row["name"]: row for row in json.loads(r.out)}
    assert rows["lut"]["ops"] == {"GELU": 1} and "coral" not in rows["lut"]["accepted_by"]
    assert "coral" in rows["relu-corr"]["accepted_by"]
    assert (tmp_path / "gelu_relu-corr_int8.tflite").is_file()
    assert rows["relu-corr"]["int8_max_lsb"] <= rows["lut"]["int8_max_lsb"] + LUT_MAX_SLACK_LSB


@pytest.mark.slow
def test_build_with_relu_corr(cli, tmp_path: Path) -> None:
    r = cli("build", "--approx", "relu-corr", "--out", tmp_path / "b", "--epochs", "5",
            "--samples", "200")
    assert r.code == 0, r
    ops = json.loads((tmp_path / "b" / "parity.json").read_text())["ops"]
    assert "GELU" not in ops and check_model(tmp_path / "b" / "model.tflite", "coral").compatible

