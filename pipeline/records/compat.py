"""What checking a model against a target yields: per-op verdicts, model-level rules, and the
target's own figures (`gelu-edge check`, and the `compat` section of parity.json)."""

from __future__ import annotations

from typing import Any

from pydantic import computed_field

from pipeline.records.base import Model

SUPPORTED, CPU, UNSUPPORTED = "supported", "cpu", "unsupported"
LOAD_RULE = "runtime_load"  # the rule a real load and invoke decides


class OpVerdict(Model):
    """One op (name and version) of a model, as a target sees it."""

    op: str
    version: int
    count: int
    verdict: str  # SUPPORTED, CPU (runs, but off the accelerator) or UNSUPPORTED
    reason: str


class Rule(Model):
    """A model-level rule (types, shapes, runtime version, a real tool's verdict)."""

    name: str
    passed: bool
    message: str


class Compat(Model):
    """The outcome of `gelu-edge check`: per-op verdicts, model rules and how they were made."""

    target: str
    method: str  # "static", or the real tools that were run
    ops: list[OpVerdict]
    rules: list[Rule]
    notes: list[str] = []
    details: dict[str, Any] = {}  # the target's own figures (graph cut, Vela's cycles)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compatible(self) -> bool:
        """True when every rule passed and every op runs where the target wants it."""
        return all(r.passed for r in self.rules) and all(v.verdict == SUPPORTED for v in self.ops)

    @computed_field  # type: ignore[prop-decorator]
    @property
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
