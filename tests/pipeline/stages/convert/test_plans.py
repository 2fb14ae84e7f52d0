"""The quantization plan end to end on a tiny transformer and a tiny MLP: the placement a build
chooses, what each matrix op runs, the rewrites it leaves out, and `convert --plan` making the
same model.tflite again."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_transformer

from pipeline.cli import main
from pipeline.inputs.models import load_model
from pipeline.records import ConvertRecord, ParityRecord
from pipeline.tflite import attention
from pipeline.tflite import graph as tflite_graph

# The float and the matmuls-placed outputs of the tiny transformer: int8 weights and MACs only.
MIN_MATMULS_COSINE = 0.99


def _build(cli, tmp_path: Path, out: str, *extra: str):
    model, data = tiny_transformer(tmp_path)
    return cli("build", "--model", model, "--data", data, "--out", tmp_path / out,
               "--approx", "lut", "--min-snr-db", "0", *extra)


def _plan(out: Path) -> dict:
    return json.loads((out / "quant_plan.json").read_text())


@pytest.fixture(scope="module")
def matmuls_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny transformer's default build (placement matmuls), made once for the tests that
    read it; a test that changes it works on a copy. Its folder holds t.keras and t.npz."""
    folder = tmp_path_factory.mktemp("matmuls")
    model, data = tiny_transformer(folder)
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in ("build", "--model", model, "--data", data, "--out", folder / "b",
                               "--approx", "lut", "--min-snr-db", "0")])
    assert exc.value.code == 0
    return folder


def test_a_transformer_runs_its_matrix_ops_in_int8_and_the_rest_in_float(matmuls_build) -> None:
    out = matmuls_build / "b"
    plan = _plan(out)
    assert plan["placement"] == "matmuls" and plan["runtime"] == "litert"
    precisions = {(o["op"], o["precision"]) for o in plan["ops"]}
    assert ("FULLY_CONNECTED", "hybrid") in precisions
    # attention's activation x activation matmuls: static int8 unless int8 loses too much
    choice = plan["attention"]
    assert choice["ops"] == 2 and choice["int8_ms"] > 0 and choice["float_ms"] > 0
    # the most accurate variant (one scale per tensor, or per head), by accuracy alone
    kept = "heads" if choice["per_head"] else "per_tensor"
    assert choice["int8_snr_db"] == choice[f"{kept}_snr_db"] == max(
        choice["heads_snr_db"], choice["per_tensor_snr_db"])
    assert choice["chosen"] == (
        "int8" if choice["int8_snr_db"] >= choice["float_snr_db"] - attention.LOSS_DB
        else "float")
    assert {o["precision"] for o in plan["ops"] if o["op"] == "BATCH_MATMUL"} == \
        {choice["chosen"]}
    assert all(o["precision"] == "hybrid" for o in plan["ops"] if o["op"] != "BATCH_MATMUL")
    approx = json.loads((out / "approximate.json").read_text())
    assert "layer-norm" not in approx["rewrites"] and "attention-mask" not in approx["rewrites"]
    graph = tflite_graph.read(out / "model.tflite")
    if choice["chosen"] == "float":  # else attention's int8 operands are quantized
        assert "QUANTIZE" not in graph.op_counts()
    weights = [graph.tensors[op.inputs[1]] for op in graph.ops if op.name == "FULLY_CONNECTED"]
    assert all(w.dtype == "INT8" for w in weights)
    converted = ConvertRecord.load(out)
    assert converted.placement == "matmuls" and converted.int8_mac_share > 0.5
    parity = ParityRecord.load(out)
    assert parity.placement == "matmuls"
    assert parity.first.metrics.cosine >= MIN_MATMULS_COSINE
    assert "placement" in (out / "parity.md").read_text()
    if choice["chosen"] == "float":
        reasons = {g.op: g.reason for g in parity.gains.float_ops}
        assert "both operands are activations" in reasons["BATCH_MATMUL"]


def test_convert_with_the_plan_makes_the_same_model(cli, matmuls_build, tmp_path) -> None:
    shutil.copytree(matmuls_build, tmp_path, dirs_exist_ok=True)
    out = tmp_path / "b"
    before = hashlib.sha256((out / "model.tflite").read_bytes()).hexdigest()
    assert _plan(out)["model_sha256"] == before
    saved = tmp_path / "plan.json"
    saved.write_bytes((out / "quant_plan.json").read_bytes())
    model, data = tmp_path / "t.keras", tmp_path / "t.npz"
    result = cli("convert", "--out", out, "--data", data, "--plan", saved)
    assert result.code == 0, result
    assert "the same model.tflite" in result.out + result.err
    assert hashlib.sha256((out / "model.tflite").read_bytes()).hexdigest() == before
    assert model.exists()


def test_tflite_runtime_gets_one_weight_scale_per_tensor(cli, tmp_path) -> None:
    result = _build(cli, tmp_path, "b", "--runtime", "tflite-runtime", "--approx", "auto")
    assert result.code in (0, 1), result
    out = tmp_path / "b"
    assert _plan(out)["runtime"] == "tflite-runtime"
    # GELU runs in float in this placement: auto chose by the float figures on tflite-runtime.
    auto = json.loads((out / "approximate.json").read_text())["auto"]
    assert auto["precision"] == "float" and auto["runtime"] == "tflite-runtime"
    ok = [c for c in auto["candidates"] if c["cost_ok"]]
    assert min(ok, key=lambda c: c["float_max_err"])["name"] == auto["chosen"]
    assert "float" in (out / "parity.md").read_text().split("Why this approximation")[1]
    graph = tflite_graph.read(out / "model.tflite")
    for op in graph.ops:
        if op.name == "FULLY_CONNECTED":
            assert graph.tensors[op.inputs[1]].dtype == "INT8"
            assert np.size(graph.tensors[op.inputs[1]].scale) == 1


def test_integer_only_makes_every_op_int8(cli, tmp_path) -> None:
    result = _build(cli, tmp_path, "b", "--integer-only", "--approx", "auto")
    assert result.code in (0, 1), result
    plan = _plan(tmp_path / "b")
    assert plan["placement"] == "integer"
    auto = json.loads((tmp_path / "b" / "approximate.json").read_text())["auto"]
    assert auto["precision"] == "int8"
    assert {o["precision"] for o in plan["ops"]} == {"int8"}


@pytest.mark.parametrize("method", ["percentile", "auto"])
def test_an_integer_plan_with_chosen_ranges_makes_the_same_model(cli, tmp_path, method) -> None:
    from tests import tiny

    inputs = tiny.save_inputs(tmp_path)
    out = tmp_path / "b"
    result = cli(*tiny.build_args(inputs, out), "--calibration-method", method)
    assert result.code in (0, 1), result  # the gate is not what this test is about
    plan = _plan(out)
    assert plan["placement"] == "integer"
    # percentile moves ranges; auto calibrates on part of the samples (the rest compare methods)
    assert plan["ranges"] if method == "percentile" else plan["calibration_samples"] > 0
    before = (out / "model.tflite").read_bytes()
    result = cli("convert", "--out", out, "--data", inputs[1], "--plan", out / "quant_plan.json")
    assert result.code == 0, result
    assert (out / "model.tflite").read_bytes() == before


def test_a_plan_for_another_model_is_refused_in_one_line(cli, matmuls_build, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1}')
    result = cli("convert", "--out", matmuls_build / "b", "--data", matmuls_build / "t.npz",
                 "--plan", bad)
    assert result.code == 2 and "quantization plan" in result.err
    assert "Traceback" not in result.err


def test_integer_only_with_a_float_mode_is_refused_before_any_work(cli, tmp_path) -> None:
    model, data = tiny_transformer(tmp_path)
    result = cli("build", "--model", model, "--data", data, "--out", tmp_path / "b",
                 "--quantize", "dynamic", "--integer-only")
    assert result.code == 2 and "--integer-only" in result.err
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_attention_forced_int8_per_head_is_reproduced_by_its_plan(cli, tmp_path) -> None:
    """One head's queries planted 30x larger: --attention int8 takes scales per head (the
    more accurate int8), and `convert --plan` makes the same model.tflite again."""
    model_path, data = tiny_transformer(tmp_path)
    model = load_model(model_path)
    query = model.get_layer("mha")._query_dense
    kernel, bias = query.get_weights()
    kernel[:, 0, :] *= 30.0
    query.set_weights([kernel, bias])
    model.save(tmp_path / "planted.keras")
    out = tmp_path / "b"
    result = cli("build", "--model", tmp_path / "planted.keras", "--data", data, "--out", out,
                 "--min-snr-db", "0", "--attention", "int8")
    assert result.code in (0, 1), result
    choice = _plan(out)["attention"]
    assert choice["chosen"] == "int8" and choice["per_head"]
    assert "--attention int8" in choice["why"] or "as accurate" in choice["why"]
    assert {o["precision"] for o in _plan(out)["ops"] if o["op"] == "BATCH_MATMUL"} == {"int8"}
    before = hashlib.sha256((out / "model.tflite").read_bytes()).hexdigest()
    plan = tmp_path / "plan.json"
    plan.write_bytes((out / "quant_plan.json").read_bytes())
    assert cli("convert", "--out", out, "--data", data, "--plan", plan).code in (0, 1)
    assert hashlib.sha256((out / "model.tflite").read_bytes()).hexdigest() == before


def test_attention_with_an_integer_only_build_is_refused_before_any_work(cli, tmp_path) -> None:
    model, data = tiny_transformer(tmp_path)
    result = cli("build", "--model", model, "--data", data, "--out", tmp_path / "b",
                 "--integer-only", "--attention", "int8")
    assert result.code == 2 and "leave --attention out" in result.err
    assert not (tmp_path / "b").exists()


def test_a_plan_whose_rewrites_fitted_other_constants_is_refused(tmp_path) -> None:
    """stream-scale's scales come from the calibration samples: a plan made with others would
    quantize a different model."""
    from pipeline.errors import UserError
    from pipeline.records.plan import QuantPlan
    from pipeline.stages.convert import plans

    plan = QuantPlan(mode="int8", placement="integer", why="", runtime="litert", batch=1,
                     rewrites=["gelu", "stream-scale"], fitted={"enc/ln": [1.0, 2.0]})
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    assert plans.read(path, ["gelu", "stream-scale"], {"enc/ln": [1.0, 2.0]}) == plan
    with pytest.raises(UserError, match="fitted"):
        plans.read(path, ["gelu", "stream-scale"], {"enc/ln": [1.0, 3.0]})


def test_the_summary_gives_a_float_outputs_error_without_an_lsb(matmuls_build) -> None:
    """A matmuls build's output is float: its largest error is a value, not a count of LSBs."""
    from pipeline.records import ParityRecord
    from pipeline.stages.report import summary

    parity = ParityRecord.load(matmuls_build / "b")
    assert parity.first.metrics.max_error_lsb is None
    line = next(ln for ln in summary(parity).splitlines() if ln.startswith("max error"))
    assert "(a float output: no LSB)" in line and "— LSB" not in line
