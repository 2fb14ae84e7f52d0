"""The float-island policy, in one place: a float tensor between a full-integer model's input
and output fails the gate on an accelerator (which runs integer ops only), and is a warning on a
CPU target (which runs the island, at a cost the report gives)."""

from __future__ import annotations

from pipeline.records.convert import CheckResult

ISLAND_CHECK = "no_float_island"


def judged(check: CheckResult, accelerator: bool, message: str | None = None) -> CheckResult:
    """`check` as the gate counts it on this kind of target; `message` replaces a CPU
    warning's text (what the islands are and what they cost)."""
    if check.name != ISLAND_CHECK or check.passed or accelerator:
        return check
    return check.model_copy(update={"severity": "warning", "message": message or check.message})
