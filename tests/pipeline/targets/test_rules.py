"""The int8 rescale rule: an ADD/SUB whose output range the calibration never filled aborts
the runtime's prepare (SIGABRT); the target check names the op before anything loads it."""

from __future__ import annotations

import pytest

from pipeline import approximations
from pipeline.approximations.measure import single_op_model
from pipeline.targets import rules
from pipeline.tflite import graph as tflite_graph

SHAPE = (1, 64)
# pwl's knots at 1, 1.75 and 2.5 lie beyond data in [-1, 1]: relu(x - k) is zero on every
# calibration sample, so its int8 output range is degenerate.
NARROW = (-1.0, 1.0)


def _graph(name: str) -> tflite_graph.Graph:
    return tflite_graph.parse(single_op_model(approximations.get(name), SHAPE, *NARROW))


def test_degenerate_sub_is_named_for_tflite_runtime_only() -> None:
    graph = _graph("pwl")
    rule = rules.int8_rescale(graph, "tflite-runtime")
    assert not rule.passed and "SUB" in rule.message and "SIGABRT" in rule.message, rule
    assert rules.int8_rescale(graph, "litert").passed  # LiteRT 2.3 prepares such a SUB


@pytest.mark.parametrize("runtime", ["tflite-runtime", "litert"])
def test_tanh_clip_passes_on_narrow_calibration(runtime: str) -> None:
    assert rules.int8_rescale(_graph("tanh-clip"), runtime).passed
