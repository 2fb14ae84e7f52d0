"""What a deployment target is, and what checking a model against it yields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.tflite.graph import Graph

SUPPORTED, CPU, UNSUPPORTED = "supported", "cpu", "unsupported"
LOAD_RULE = "runtime_load"  # the rule a real load and invoke decides


@dataclass(frozen=True)
class OpVerdict:
    """One op (name and version) of a model, as a target sees it."""

    op: str
    version: int
    count: int
    verdict: str  # SUPPORTED, CPU (runs, but off the accelerator) or UNSUPPORTED
    reason: str


@dataclass(frozen=True)
class Rule:
    """A model-level rule (types, shapes, runtime version, a real tool's verdict)."""

    name: str
    passed: bool
    message: str


@dataclass
class Compat:
    """The outcome of `gelu-edge check`: per-op verdicts, model rules and how they were made."""

    target: str
    method: str  # "static", or the real tools that were run
    ops: list[OpVerdict]
    rules: list[Rule]
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def compatible(self) -> bool:
        """True when every rule passed and every op runs where the target wants it."""
        return all(r.passed for r in self.rules) and all(v.verdict == SUPPORTED for v in self.ops)

    def summary(self) -> str:
        """One line: the verdict, the counts, and what failed first."""
        n = sum(v.count for v in self.ops)
        ok = sum(v.count for v in self.ops if v.verdict == SUPPORTED)
        if self.compatible:
            return f"{self.target}: compatible, {ok}/{n} ops supported ({self.method})"
        first = next((f"{r.name}: {r.message}" for r in self.rules if not r.passed), None)
        first = first or next(f"{v.op} v{v.version}: {v.reason}" for v in self.ops
                              if v.verdict != SUPPORTED)
        if any(r.name == LOAD_RULE and not r.passed for r in self.rules):
            return f"{self.target}: NOT compatible, the runtime cannot load or run it; {first}"
        return f"{self.target}: NOT compatible, {ok}/{n} ops supported ({self.method}); {first}"

    def to_json(self) -> dict[str, Any]:
        """The `compat` section of parity.json and `check --json`."""
        return {"target": self.target, "compatible": self.compatible, "method": self.method,
                "summary": self.summary(), "ops": [asdict(v) for v in self.ops],
                "rules": [asdict(r) for r in self.rules], "notes": self.notes,
                "details": self.details}


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
