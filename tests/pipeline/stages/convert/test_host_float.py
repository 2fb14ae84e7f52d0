"""--host-float: a coral chain of the tiny transformer whose host segments compute in float, the
Edge TPU segments int8, the plan replaying it."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.records import ConvertRecord, ParityRecord
from pipeline.records.plan import QuantPlan
from pipeline.stages.convert import host_float
from pipeline.targets import coral
from pipeline.tflite import graph as tflite_graph


def _float(graph: tflite_graph.Graph, op: tflite_graph.Op) -> bool:
    return any(graph.tensors[t].dtype == "FLOAT32" for t in op.outputs if t >= 0)


def test_host_segments_compute_in_float_and_the_edge_tpu_segments_stay_int8(
        cli, coral_transformer, tmp_path: Path) -> None:
    model, data, integer = coral_transformer
    out = tmp_path / "b"
    r = cli("build", "--model", model, "--data", data, "--out", out, "--target", "coral",
            "--host-float", "--min-snr-db", "0")
    assert r.code == 0, r
    assert "--host-float:" in r.err
    graph = tflite_graph.read(out / "model.tflite")
    floats = [op for op in graph.ops if _float(graph, op) and op.name not in
              host_float.REQUANTIZE]
    # What runs in float: the Edge TPU's missing ops, the layer norm, the residual adds; the
    # matrix ops all int8.
    assert {op.name for op in floats} >= {"BATCH_MATMUL", "SOFTMAX", "ADD"}, floats
    assert not [op for op in graph.ops if op.name in host_float.MATRIX_OPS and _float(graph, op)]
    assert any(not coral.tpu_op(graph, op)[0] for op in floats)
    chain = ConvertRecord.load(out).segments
    assert chain.chain_check.equal
    assert all(s.check == "passed" for s in chain.segments if s.side == "accelerator")
    # every float op is in a host segment
    on_host = {n for s in chain.segments if s.side == "host"
               for n in tflite_graph.read(out / s.file).op_counts()}
    assert {op.name for op in floats} <= on_host
    reasons = {op: why for s in chain.segments for op, why in s.host_reasons.items()}
    assert reasons["ADD"] == "an Edge TPU op, kept in float on the host by --host-float"
    assert "not in the Edge TPU op table" in reasons["BATCH_MATMUL"]
    parity = ParityRecord.load(out)
    island = next(c for c in parity.checks if c.name == "no_float_island")
    assert island.passed and f"{len(floats)} float op(s), all in host segments" in island.message
    # More host work, more segments than the all-int8 chain of the same model.
    assert len(chain.segments) > len(ConvertRecord.load(integer).segments.segments)
    plan = QuantPlan.model_validate_json((out / "quant_plan.json").read_text())
    assert plan.keep_float == [host_float.KEPT] and plan.float_nodes
    # The plan makes the same model again, without --host-float (the converter may order the
    # independent ops around float ones differently: the same computation).
    again = tmp_path / "again"
    shutil.copytree(out, again)
    replay = cli("convert", "--out", again, "--data", data, "--target", "coral", "--plan",
                 out / "quant_plan.json")
    assert replay.code == 0 and "differs" not in replay.err, replay
    assert tflite_graph.canonical_sha256((again / "model.tflite").read_bytes()) == \
        plan.model_canonical_sha256 != ""


def test_host_float_is_for_coral_only(cli, tmp_path: Path) -> None:
    r = cli("build", "--out", tmp_path / "b", "--target", "rpi", "--host-float")
    assert r.code == 2 and "--host-float applies to --target coral" in r.err, r
    assert not (tmp_path / "b").exists()
