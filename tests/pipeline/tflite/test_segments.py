"""Cutting a model into segments: the runs by side, the boundaries, and each segment a model of
its own that reads and writes the whole model's tensors."""

from __future__ import annotations

from pipeline.tflite import segments
from pipeline.tflite.graph import Graph, Op, Tensor


def _t(name: str, shape: tuple[int, ...] = (1, 4)) -> Tensor:
    return Tensor(name=name, dtype="INT8", shape=shape, signature=shape, scale=0.1, zero_point=0)


def _chain_graph(kinds: list[str]) -> Graph:
    """x -> op0 -> t1 -> op1 -> ... with a constant weight tensor for each FULLY_CONNECTED."""
    tensors = [_t("x")]
    ops = []
    for i, kind in enumerate(kinds):
        inputs = [len(tensors) - 1]
        if kind == "FULLY_CONNECTED":
            tensors.append(_t(f"w{i}", (4, 4)))
            inputs.append(len(tensors) - 1)
        tensors.append(_t(f"t{i}"))
        ops.append(Op(name=kind, version=1, code=0, inputs=tuple(inputs),
                      outputs=(len(tensors) - 1,)))
    return Graph(ops=ops, tensors=tensors, inputs=(0,), outputs=(len(tensors) - 1,))


HOST_OPS = {"GATHER", "BATCH_MATMUL", "TRANSPOSE"}


def _on_tpu(op: Op) -> bool:
    return op.name not in HOST_OPS


def test_runs_alternate_and_a_run_without_macs_joins_the_host() -> None:
    graph = _chain_graph(["GATHER", "FULLY_CONNECTED", "RESHAPE", "TRANSPOSE", "RESHAPE",
                          "BATCH_MATMUL", "FULLY_CONNECTED", "ADD"])
    cuts = segments.cut(graph, _on_tpu)
    # the lone RESHAPE between TRANSPOSE and BATCH_MATMUL has no MACs: host
    assert [(c.side, c.ops) for c in cuts] == [
        ("host", (0,)), ("accelerator", (1, 2)), ("host", (3, 4, 5)),
        ("accelerator", (6, 7))]


def test_max_segments_gives_the_smallest_accelerator_runs_to_the_host() -> None:
    graph = _chain_graph(["FULLY_CONNECTED", "TRANSPOSE", "FULLY_CONNECTED", "FULLY_CONNECTED",
                          "TRANSPOSE", "FULLY_CONNECTED"])
    assert len(segments.cut(graph, _on_tpu)) == 5
    cuts = segments.cut(graph, _on_tpu, max_segments=3)
    assert [(c.side, c.ops) for c in cuts] == [
        ("host", (0, 1)), ("accelerator", (2, 3)), ("host", (4, 5))]
    assert [c.side for c in segments.cut(graph, _on_tpu, max_segments=1)] == ["host"]


def test_boundaries_are_what_crosses_a_cut() -> None:
    graph = _chain_graph(["GATHER", "FULLY_CONNECTED", "TRANSPOSE"])
    cuts = segments.cut(graph, _on_tpu)
    found = segments.boundaries(graph, cuts)
    assert [b.inputs for b in found] == [(0,), (1,), (3,)]  # weights are not inputs
    assert [b.outputs for b in found] == [(1,), (3,), (4,)]
    assert segments.parameter_bytes(graph, cuts[1].ops) == 16


def test_independent_ops_of_one_side_are_run_together() -> None:
    """Q's and K's matmuls with a host TRANSPOSE between them in the model's order (as the
    converter interleaves them): scheduled, the two matmuls make one Edge TPU run."""
    tensors = [_t("x"), _t("wq", (4, 4)), _t("q"), _t("qt"), _t("wk", (4, 4)), _t("k"),
               _t("scores")]
    ops = [Op("FULLY_CONNECTED", 1, 9, (0, 1), (2,)), Op("TRANSPOSE", 1, 39, (2,), (3,)),
           Op("FULLY_CONNECTED", 1, 9, (0, 4), (5,)), Op("BATCH_MATMUL", 1, 126, (3, 5), (6,))]
    graph = Graph(ops=ops, tensors=tensors, inputs=(0,), outputs=(6,))
    cuts = segments.cut(graph, _on_tpu)
    assert [(c.side, c.ops) for c in cuts] == [("accelerator", (0, 2)), ("host", (1, 3))]
    found = segments.boundaries(graph, cuts)
    assert found[0].outputs == (2, 5) and found[1].inputs == (2, 5)
