"""What int8 buys: the MAC share by arithmetic on tiny converted models (exact counts), the ops
left in float and why, and latency on this machine's runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.progress import Quiet
from pipeline.records.parity import MacShare
from pipeline.stages.parity import gains
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model, full_integer

k = keras()
# Dense 32 -> 64 -> 24, one sample: 32 * 64 and 64 * 24 multiply-accumulates. Both weight
# matrices hold at least 1024 values, so --quantize dynamic quantizes them.
IN, HIDDEN, OUT = 32, 64, 24
FIRST_MACS, SECOND_MACS = IN * HIDDEN, HIDDEN * OUT
RUNTIME = "tflite-runtime"


@pytest.fixture(scope="module")
def dense() -> tuple[Any, np.ndarray]:
    k.utils.set_random_seed(0)
    inp = k.Input((IN,))
    hidden = k.layers.Dense(HIDDEN, activation="relu", name="ffn_in")(inp)
    model = k.Model(inp, k.layers.Dense(OUT, name="ffn_out")(hidden))
    calib = np.random.default_rng(0).normal(size=(32, IN)).astype(np.float32)
    return model, calib


def _graph(dense: tuple[Any, np.ndarray], mode: str) -> tflite_graph.Graph:
    model, calib = dense
    return tflite_graph.parse(convert_model(model, mode, calib, 1, Quiet()))


def test_an_all_int8_dense_model_computes_every_mac_in_int8(dense) -> None:
    graph = _graph(dense, "int8")
    assert gains.mac_shares(graph) == [MacShare(kind="int8", ops=2,
                                                macs=FIRST_MACS + SECOND_MACS)]
    assert gains.float_op_groups(graph, "int8", []) == []


def test_dynamic_range_ops_are_named_hybrid(dense) -> None:
    graph = _graph(dense, "dynamic")
    assert gains.mac_shares(graph) == [MacShare(kind="hybrid", ops=2,
                                                macs=FIRST_MACS + SECOND_MACS)]
    groups = gains.float_op_groups(graph, "dynamic", [])
    assert [(g.op, g.count, g.reason) for g in groups] == [("FULLY_CONNECTED", 2, gains.HYBRID)]


def test_a_float_model_computes_no_mac_in_int8(dense) -> None:
    graph = _graph(dense, "none")
    shares = gains.mac_shares(graph)
    assert shares == [MacShare(kind="float", ops=2, macs=FIRST_MACS + SECOND_MACS)]
    assert sum(s.macs for s in shares if s.kind != "float") == 0
    groups = gains.float_op_groups(graph, "none", [])
    assert [(g.op, g.count) for g in groups] == [("FULLY_CONNECTED", 2)]
    assert groups[0].reason == gains.WHOLE_MODEL_FLOAT["none"]


def test_a_layer_kept_in_float_by_recover_is_named_and_its_macs_are_float(dense) -> None:
    from pipeline.stages.convert import recover
    from pipeline.tflite import calibrate

    model, calib = dense
    _, calibrated, _, ranges = full_integer(model, "int8", calib, 1, "minmax", Quiet())
    first = recover.units(tflite_graph.parse(calibrated.data))[0]
    assert first.scope.endswith("ffn_in")
    graph = tflite_graph.parse(calibrate.quantize(calibrated, "int8", ranges, list(first.nodes)))
    assert gains.mac_shares(graph) == [MacShare(kind="int8", ops=1, macs=SECOND_MACS),
                                       MacShare(kind="float", ops=1, macs=FIRST_MACS)]
    groups = gains.float_op_groups(graph, "int8", [first.scope])
    assert ("FULLY_CONNECTED", 1, gains.KEPT_BY_RECOVER) in [(g.op, g.count, g.reason)
                                                             for g in groups]


def test_a_float_island_is_named_with_what_removes_it() -> None:
    inp = k.Input((8,))
    model = k.Model(inp, k.layers.Dense(4)(k.layers.UnitNormalization()(
        k.layers.Dense(8)(inp))))
    calib = np.random.default_rng(1).normal(size=(32, 8)).astype(np.float32)
    graph = tflite_graph.parse(convert_model(model, "int8", calib, 1, Quiet()))
    groups = {g.op: g for g in gains.float_op_groups(graph, "int8", [])}
    assert groups["SQUARE"].reason.startswith(gains.ISLAND)
    assert "l2-normalize" in groups["SQUARE"].reason
    assert "DEQUANTIZE" in groups
    # The islands hold no matrix op: both Dense layers still multiply in int8.
    assert gains.mac_shares(graph) == [MacShare(kind="int8", ops=2, macs=8 * 8 + 8 * 4)]


def test_latency_is_measured_for_both_models_on_this_machine(dense, tmp_path: Path) -> None:
    model, calib = dense
    path = tmp_path / "model.tflite"
    path.write_bytes(convert_model(model, "int8", calib, 1, Quiet()))
    graph = tflite_graph.read(path)
    found = gains.measure(graph, path, "int8", None, model, calib, 1,
                          gains.Where(RUNTIME, "x86_64"), Quiet())
    assert found.quantized_latency and found.quantized_latency.median_ms > 0
    assert found.float_latency and found.float_latency.median_ms > 0
    assert found.quantized_latency.threads == 1 and found.runtime.startswith(RUNTIME)
    assert found.float_tflite_bytes and found.float_tflite_bytes > 0
    assert found.integer_share == 1.0 and found.latency_ratio and found.latency_ratio > 0


def test_latency_elsewhere_is_said_to_be_unmeasured(dense, tmp_path: Path) -> None:
    model, calib = dense
    path = tmp_path / "model.tflite"
    path.write_bytes(convert_model(model, "int8", calib, 1, Quiet()))
    found = gains.measure(tflite_graph.read(path), path, "int8", None, model, calib, 1,
                          gains.Where(RUNTIME, "", skip="parity ran with --on pi"), Quiet())
    assert found.quantized_latency is None and found.float_latency is None
    assert found.runtime is None and found.float_tflite_bytes
    assert any("latency not measured: parity ran with --on pi" in n for n in found.notes)


def test_a_float_build_has_no_float_model_to_compare_with(dense, tmp_path: Path) -> None:
    model, calib = dense
    path = tmp_path / "model.tflite"
    path.write_bytes(convert_model(model, "none", calib, 1, Quiet()))
    found = gains.measure(tflite_graph.read(path), path, "none", None, model, calib, 1,
                          gains.Where(RUNTIME, "x86_64"), Quiet())
    assert found.quantized_latency and found.quantized_latency.median_ms > 0
    assert found.float_latency is None and found.float_tflite_bytes is None
    assert found.integer_share == 0.0 and any("--quantize none" in n for n in found.notes)
