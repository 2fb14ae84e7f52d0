"""What a deployment target is, and what checking a model against it yields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.records.compat import (  # noqa: F401 (what a target's check yields)
    CPU,
    LOAD_RULE,
    SUPPORTED,
    UNSUPPORTED,
    Compat,
    OpVerdict,
    Rule,
)
from pipeline.tflite.graph import Graph

# A target's check: the model file (for real tools) and its parsed graph -> Compat.
Checker = Callable[[Path, Graph], Compat]


@dataclass(frozen=True)
class Target:
    """A device class a model is built for."""

    name: str
    summary: str
    runtime: str  # the edge runtime parity runs on by default
    machine: str  # the device's CPU architecture
    default_quantize: str
    quantize_modes: tuple[str, ...]  # the --quantize modes the target can run
    accelerator: bool  # ops run on an NPU/TPU, so CPU latency is not their cost
    rules: tuple[str, ...]  # what `gelu-edge targets` prints
    checker: Checker
    # Lines saying what the target's own figures in Compat.details mean (graph cut, cycles).
    details: Callable[[Compat], list[str]] = lambda compat: []

    def check(self, model: Path, graph: Graph) -> Compat:
        """Check a model against this target."""
        return self.checker(model, graph)


def group_ops(graph: Graph, verdict: Callable[[str, int], tuple[str, str]]) -> list[OpVerdict]:
    """One OpVerdict per (op, version) in order of first use, from a per-op verdict function."""
    counts: dict[tuple[str, int], int] = {}
    for op in graph.ops:
        counts[(op.name, op.version)] = counts.get((op.name, op.version), 0) + 1
    return [OpVerdict(name, version, n, *verdict(name, version))
            for (name, version), n in counts.items()]
