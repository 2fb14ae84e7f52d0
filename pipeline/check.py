"""`gelu-edge check`: is a .tflite model compatible with a target? Per-op verdicts and rules."""

from __future__ import annotations

from pathlib import Path

from pipeline import targets
from pipeline.targets.base import Compat
from pipeline.tflite import graph as tflite_graph


def check_model(model: Path, target_name: str, runtime: str | None = None) -> Compat:
    """Parse the model (UserError if it is not a TFLite flatbuffer) and run the target's check
    (with `runtime`: the target as that runtime's users have it)."""
    target = targets.get(target_name, runtime)
    graph = tflite_graph.read(model)
    return target.check(Path(model), graph)


def render(compat: Compat) -> str:
    """A plain-text table: op, version, count, verdict, reason; then rules, notes, summary."""
    rows = [("op", "count", "verdict", "reason")]
    rows += [(f"{v.op} v{v.version}", str(v.count), v.verdict, v.reason) for v in compat.ops]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], width)) + "  " + r[3] for r in rows]
    lines.append("")
    lines += [f"{'ok  ' if r.passed else 'FAIL'} {r.name}: {r.message}" for r in compat.rules]
    lines += targets.describe_details(compat)
    lines += [f"note: {n}" for n in compat.notes]
    lines.append(compat.summary)
    return "\n".join(lines)
