"""Localising a device-vs-host difference from two traces: in-place ops, the first op that
differs, how the difference grows, and the verdict of the reference kernels."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.device.divergence import hidden_tensors, localise, overwritten, verdict
from pipeline.device.edge_session import Trace
from pipeline.records.parity import OpDifference, RoundingReplay
from pipeline.tflite.graph import Graph, Op, Tensor


def _tensor(name: str, dtype: str = "INT8", scale: float | None = 0.1) -> Tensor:
    return Tensor(name=name, dtype=dtype, shape=(1, 4), signature=(1, 4), scale=scale,
                  zero_point=0 if scale else None)


# x(0) -> FC a(5) ; x -> FC b(6) -> RESHAPE(7) ; ADD(5, 7) -> 8 in place of 5 ;
# SOFTMAX(8) -> 9 in place too ; FC(9) -> 10
GRAPH = Graph(
    ops=[Op("FULLY_CONNECTED", 1, 9, (0, 1, -1), (5,)),
         Op("FULLY_CONNECTED", 1, 9, (0, 2, -1), (6,)),
         Op("RESHAPE", 1, 22, (6, 3), (7,)), Op("ADD", 1, 0, (5, 7), (8,)),
         Op("SOFTMAX", 1, 25, (8,), (9,)), Op("FULLY_CONNECTED", 1, 9, (9, 4, -1), (10,))],
    tensors=[_tensor("x"), _tensor("w1"), _tensor("w2"), _tensor("shape", "INT32", None),
             _tensor("w3"), _tensor("m/a/MatMul"), _tensor("m/b/MatMul"), _tensor("m/b/Reshape"),
             _tensor("m/add/Add"), _tensor("m/softmax/Softmax"), _tensor("m/out/MatMul")],
    inputs=(0,), outputs=(10,))
ALIASES = [[5, 8, 9], [6, 7]]


def _trace(shift: dict[int, int] | None = None, aliases: list[list[int]] = ALIASES) -> Trace:
    values = {t: np.arange(4, dtype=np.int8).reshape(1, 4) + t for t in range(5, 11)}
    for t, by in (shift or {}).items():
        values[t] = values[t].copy()
        values[t][0, :by] += 1
    return Trace(tensors=values, outputs=[values[10]], aliases=aliases,
                 about={"machine": "aarch64"})


def test_ops_run_in_place_hide_the_tensors_they_overwrite() -> None:
    # The ADD wrote over the first FC's output, the SOFTMAX over the ADD's; RESHAPE is a view.
    assert hidden_tensors(GRAPH, ALIASES) == {5, 8}
    assert hidden_tensors(GRAPH, []) == set()


def test_the_first_differing_op_and_the_growth() -> None:
    device = _trace({6: 1, 7: 1, 9: 2, 10: 3})
    host = _trace()
    host.about["machine"] = "x86_64"
    found = localise(GRAPH, 7, device, host, [device.outputs[0]], [host.outputs[0]], None, None)
    assert found.sample == 7 and found.first is not None
    first = found.first
    assert (first.op_index, first.op, first.tensor, first.differing, first.max_diff,
            first.unit) == (1, "FULLY_CONNECTED", 6, 1, 1.0, "LSB")
    assert [r.op_index for r in found.growth] == [1, 2, 4, 5]  # ops 0 and 3: hidden
    assert [r.differing for r in found.growth] == [1, 1, 2, 3]
    assert found.hidden == [5, 8] and found.traced_matches_run
    assert "first differ at op 1 FULLY_CONNECTED" in found.verdict
    assert "did not take place" in found.verdict


def test_reference_kernels_that_agree_blame_the_optimized_ones() -> None:
    device, host = _trace({9: 1, 10: 1}), _trace()
    found = localise(GRAPH, 0, device, host, device.outputs, host.outputs, _trace(), _trace())
    assert found.reference is not None and found.reference.agree
    assert found.reference.reference_vs_optimized == 0.0
    assert "agree bit for bit" in found.verdict and "optimized aarch64 kernels" in found.verdict


def test_reference_kernels_that_still_differ_say_so() -> None:
    device, host = _trace({9: 1, 10: 1}), _trace()
    found = localise(GRAPH, 0, device, host, device.outputs, host.outputs, _trace({10: 2}),
                     _trace())
    assert found.reference is not None and not found.reference.agree
    assert found.reference.first is not None and found.reference.first.op_index == 5
    assert "still differ, first at op 5" in found.verdict


def test_no_difference_with_every_tensor_kept_points_at_the_delegate() -> None:
    device, host = _trace(), _trace()
    found = localise(GRAPH, 0, device, host, [device.outputs[0] + 1], host.outputs, None, None)
    assert found.first is None and not found.traced_matches_run
    assert "delegate" in found.verdict


def test_float_tensors_are_compared_absolutely() -> None:
    graph = Graph(ops=[Op("DEQUANTIZE", 1, 6, (0,), (1,))],
                  tensors=[_tensor("x"), _tensor("f", "FLOAT32", None)], inputs=(0,),
                  outputs=(1,))
    a = Trace({1: np.array([1.0, np.nan, 3.0], np.float32)}, [], [], {})
    b = Trace({1: np.array([1.0, np.nan, 3.5], np.float32)}, [], [], {})
    found = localise(graph, 0, a, b, [], [], None, None)
    assert found.first is not None
    assert (found.first.unit, found.first.max_diff, found.first.differing) == ("float", 0.5, 1)


def test_shapes_that_differ_are_an_error() -> None:
    a = _trace()
    a.tensors[6] = np.zeros((1, 5), np.int8)
    with pytest.raises(ValueError, match="shapes"):
        localise(GRAPH, 0, a, _trace(), [], [], None, None)


def test_an_input_overwritten_in_place_is_not_replayed() -> None:
    # The ADD wrote over the first FC's output; the RESHAPE's view leaves the second FC's alone;
    # a model input sharing a buffer with an op's output was overwritten.
    assert overwritten(GRAPH, ALIASES, 5) and not overwritten(GRAPH, ALIASES, 6)
    assert overwritten(GRAPH, [[0, 10]], 0) and not overwritten(GRAPH, [], 0)
    device, host = _trace({6: 1, 7: 1, 9: 2, 10: 3}), _trace()
    # The first differing op is an FC on the model input, which the traces do not hold: no
    # replay, and no model is read.
    found = localise(GRAPH, 0, device, host, device.outputs, host.outputs, None, None,
                     model=b"not read")
    assert found.rounding is None and "Replayed" not in found.verdict


FIRST = OpDifference(op_index=1, op="FULLY_CONNECTED", layer="b", tensor=6, tensor_name="m/b",
                     dtype="INT8", elements=4, differing=1, max_diff=1.0, unit="LSB")


@pytest.mark.parametrize("device, host, says, never", [
    (["up, twice"], ["up, once"], "what “up, twice” gives and this machine's what “up, once” "
     "gives: the two compute it alike but for how the requantization rounds, up to 1 LSB on 1 "
     "of 4",
     "does not explain"),
    ([], ["up, once"], "this machine's output of that op is what “up, once” gives; none of the "
     "3 rounding modes tried gives the device's exactly", "alike"),
    (["away", "up, twice"], [], "the device's output of that op is what “away” or “up, twice”",
     "alike"),
    ([], [], "the replay does not explain the difference", "gives:"),
])
def test_the_verdict_claims_a_rounding_only_where_one_matched(device: list[str], host: list[str],
                                                              says: str, never: str) -> None:
    replay = RoundingReplay(op_index=1, values=4, device=device, host=host)
    text = verdict(FIRST, None, "aarch64", "x86_64", True, replay)
    assert says in text and never not in text
    assert "Replayed" not in verdict(FIRST, None, "aarch64", "x86_64", True, None)
