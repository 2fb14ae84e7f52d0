"""Cut a TFLite model into a chain of segments, each a model of its own: runs of ops an
accelerator runs (for coral: the Edge TPU's ops) and runs it does not (left to the host CPU).

The Edge TPU compiler maps one subgraph and stops at the first op it cannot run, so a
transformer whose first op is GATHER runs wholly on the host. Cut into segments, every run of
Edge TPU ops is a model the compiler can map whole; the host runs the others in between. The
tensors that cross a cut keep their int8 type, scale and zero point, so on one CPU runtime the
chain computes what the single model computes, code for code.

A segment's inputs are the non-constant tensors its ops read that none of its ops write (in the
order first read), its outputs the tensors its ops write that a later op or the model's output
reads (in the order written). Segments are cut in the model's execution order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.tflite import macs as tflite_macs
from pipeline.tflite.graph import Graph, Op

ACCELERATOR, HOST = "accelerator", "host"


@dataclass(frozen=True)
class Cut:
    """One segment: where it runs and the indices of its ops (in the order they run)."""

    side: str  # ACCELERATOR or HOST
    ops: tuple[int, ...]


def cut(graph: Graph, on_accelerator: Callable[[Op], bool], max_segments: int | None = None
        ) -> list[Cut]:
    """The model's ops in runs by side, in an order that keeps each side's ops together
    (`schedule`). An accelerator run without multiply-accumulates (a lone RESHAPE between two
    host runs) gains nothing for its two transfers and joins the host; with `max_segments`,
    the accelerator runs with the fewest MACs join the host until the chain has at most that
    many segments."""
    sides = [ACCELERATOR if on_accelerator(op) else HOST for op in graph.ops]
    op_macs = [tflite_macs.macs(graph, op) for op in graph.ops]
    runs = _runs(graph, sides)
    for run in runs:
        if run.side == ACCELERATOR and not sum(op_macs[i] for i in run.ops):
            for i in run.ops:
                sides[i] = HOST
    runs = _runs(graph, sides)
    while max_segments is not None and len(runs) > max(max_segments, 1):
        accel = [r for r in runs if r.side == ACCELERATOR]
        if not accel:
            break
        smallest = min(accel, key=lambda r: sum(op_macs[i] for i in r.ops))
        for i in smallest.ops:
            sides[i] = HOST
        runs = _runs(graph, sides)
    return runs


def schedule(graph: Graph, sides: list[str]) -> list[int]:
    """The ops in an order that respects every dependency and keeps going on one side while an
    op of that side is ready (the earliest in the model's order first): Q, K and V's matmuls,
    which the converter interleaves with attention's host ops, come out as one run."""
    producer = {t: i for i, op in enumerate(graph.ops) for t in op.outputs}
    needs = [{producer[t] for t in op.inputs if t in producer} - {i}
             for i, op in enumerate(graph.ops)]
    users: list[list[int]] = [[] for _ in graph.ops]
    for i, before in enumerate(needs):
        for j in before:
            users[j].append(i)
    waiting = [len(n) for n in needs]
    ready = {ACCELERATOR: [], HOST: []}
    for i, n in enumerate(waiting):
        if n == 0:
            heapq.heappush(ready[sides[i]], i)
    order: list[int] = []
    side = sides[0] if sides else HOST
    while ready[ACCELERATOR] or ready[HOST]:
        if not ready[side]:
            side = ACCELERATOR if side == HOST else HOST
        i = heapq.heappop(ready[side])
        order.append(i)
        for j in users[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready[sides[j]], j)
    return order


def _runs(graph: Graph, sides: list[str]) -> list[Cut]:
    found: list[Cut] = []
    for i in schedule(graph, sides):
        side = sides[i]
        if found and found[-1].side == side:
            found[-1] = Cut(side, (*found[-1].ops, i))
        else:
            found.append(Cut(side, (i,)))
    return found


@dataclass(frozen=True)
class Boundary:
    """A segment's inputs and outputs, as tensor indices of the whole model."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def boundaries(graph: Graph, cuts: list[Cut]) -> list[Boundary]:
    """Each segment's inputs and outputs (see the module's docstring)."""
    found = []
    for n, c in enumerate(cuts):
        written: list[int] = []
        inputs: list[int] = []
        for i in c.ops:
            op = graph.ops[i]
            for t in op.inputs:
                if t >= 0 and not graph.is_constant(t) and t not in written and t not in inputs:
                    inputs.append(t)
            written += [t for t in op.outputs if t >= 0]
        later = {t for other in cuts[n + 1:] for i in other.ops for t in graph.ops[i].inputs}
        outputs = [t for t in written if t in later or t in graph.outputs]
        found.append(Boundary(tuple(inputs), tuple(outputs)))
    return found


def parameter_bytes(graph: Graph, ops: tuple[int, ...]) -> int:
    """Bytes of the constant tensors (weights, biases, tables) these ops read."""
    seen: set[int] = set()
    total = 0
    for i in ops:
        for t in graph.ops[i].inputs:
            if t >= 0 and t not in seen and graph.is_constant(t):
                seen.add(t)
                total += tensor_bytes(graph, t)
    return total


DTYPE_BYTES = {"INT8": 1, "UINT8": 1, "INT16": 2, "FLOAT16": 2, "INT32": 4, "FLOAT32": 4,
               "INT64": 8, "BOOL": 1}


def tensor_bytes(graph: Graph, index: int) -> int:
    """Bytes of one tensor at its static shape."""
    t = graph.tensors[index]
    return int(np.prod(t.shape)) * DTYPE_BYTES.get(t.dtype, 4) if t.shape else \
        DTYPE_BYTES.get(t.dtype, 4)
