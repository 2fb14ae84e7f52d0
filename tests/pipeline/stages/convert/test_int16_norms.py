"""--int16-norms: an all-integer tiny transformer whose layer norm and residual adds carry int16
activations while every matrix op stays int8, no op float, the plan replaying it; and the
option refused, in one line before any work, where it cannot apply."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipeline.records.plan import QuantPlan
from pipeline.stages.convert import int16_norms
from pipeline.tflite import graph as tflite_graph

MATRIX_OPS = ("FULLY_CONNECTED", "BATCH_MATMUL")


def _dtype(graph: tflite_graph.Graph, op: tflite_graph.Op) -> str:
    return graph.tensors[op.outputs[0]].dtype


def test_layer_norms_and_adds_in_int16_matrix_ops_int8_nothing_float(
        cli, coral_transformer, tmp_path: Path) -> None:
    model, data, _ = coral_transformer
    out = tmp_path / "b"
    r = cli("build", "--model", model, "--data", data, "--out", out, "--integer-only",
            "--int16-norms", "--sensitivity", "2")
    assert r.code == 0, r
    assert "--int16-norms:" in r.err
    assert "--sensitivity: not for this build: an --int16-norms model" in r.err
    plan = QuantPlan.model_validate_json((out / "quant_plan.json").read_text())
    graph = tflite_graph.read(out / "model.tflite")
    int16 = [op for op in graph.ops if _dtype(graph, op) == "INT16" and op.name != "QUANTIZE"]
    assert {op.name for op in int16} >= {"ADD", "MEAN", "RSQRT", "MUL"}, int16
    assert {graph.tensors[op.outputs[0]].name for op in int16} <= set(plan.int16_nodes)
    assert all(_dtype(graph, op) == "INT8" for op in graph.ops if op.name in MATRIX_OPS)
    assert not [op for op in graph.ops if _dtype(graph, op) == "FLOAT32"]
    assert plan.int8_mac_share == 1.0
    counted = f"{len(int16)} op(s) with int16 activations"
    assert counted in r.out and counted in (out / "parity.md").read_text()
    # The plan makes the same computation again, without the flag.
    again = tmp_path / "again"
    shutil.copytree(out, again)
    replay = cli("convert", "--out", again, "--data", data, "--plan", out / "quant_plan.json")
    assert replay.code == 0 and "differs" not in replay.err, replay
    assert tflite_graph.canonical_sha256((again / "model.tflite").read_bytes()) == \
        plan.model_canonical_sha256


@pytest.mark.parametrize(("extra", "says"), [
    (["--target", "coral"], "is an accelerator target"),
    ([], "add --integer-only"),
    (["--integer-only", "--runtime", "tflite-runtime"], "no int16 RSQRT"),
    (["--integer-only", "--recover"], "choose one"),
    (["--integer-only", "--calibration-method", "mse"], "leave out --calibration-method"),
])
def test_refused_in_one_line_before_any_work(cli, coral_transformer, tmp_path: Path,
                                             extra: list[str], says: str) -> None:
    model, data, _ = coral_transformer
    out = tmp_path / "b"
    r = cli("build", "--model", model, "--data", data, "--out", out, "--int16-norms", *extra)
    assert r.code == 2, r
    errors = [ln for ln in r.err.splitlines() if not ln.startswith("warning:")]
    assert len(errors) == 1 and says in errors[0] and "Traceback" not in r.err, r.err
    assert not (out / "model.tflite").exists()


def test_the_recipe_names_each_op_exactly() -> None:
    entries = int16_norms.recipe(["a/ln/Mean", "a/add"])
    assert [e["op_config"]["activation_tensor_config"]["num_bits"] for e in entries] == [8, 16]
    scope = re.compile(entries[1]["regex"])
    assert scope.search("a/ln/Mean;") and scope.search("a/add;")
    assert not scope.search("a/ln/Mean_1;") and not scope.search("b/a/add;")
    # A Dense fused after the layer norm is named after it too: it stays int8.
    assert not scope.search("a/ln/Mean;a/ln/BiasAdd;a/query/MatMul;")
    assert len(int16_norms.recipe([])) == 1  # nothing to widen: all int8


def test_a_model_with_nothing_to_widen_gets_the_usual_int8_conversion(
        cli, tiny_inputs, tmp_path: Path) -> None:
    """An MLP has no layer norm and no add of two activations: ai-edge-quantizer's all-int8
    model would only be a worse copy of the usual one (min/max ranges), so the build says so
    and converts as without the flag."""
    import tiny

    out = tmp_path / "b"
    r = cli(*tiny.build_args(tiny_inputs, out), "--integer-only", "--int16-norms")
    assert r.code == 0, r
    assert "--int16-norms: the model has no layer norm" in r.err
    plan = QuantPlan.model_validate_json((out / "quant_plan.json").read_text())
    assert plan.int16_nodes == [] and plan.static_ranges == {} and plan.calibration_method
