"""`gelu-edge diff OLD NEW`: did this change make parity worse? Compares two builds' parity.json,
output by output and layer by layer.

A figure counts as worse when it moved the wrong way by more than its tolerance: small moves
are calibration or runner noise, not regressions. Every tolerance below says why it is what it
is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import artifacts, tasks
from pipeline.records import ParityRecord
from pipeline.records.parity import OutputParity
from pipeline.stages.report.document import fmt


@dataclass(frozen=True)
class Tolerance:
    """How far a figure may move the wrong way before it counts as worse."""

    value: float
    relative: bool  # a share of the old value, not an absolute amount
    reason: str

    def allows(self, old: float) -> float:
        """The allowed move for this old value."""
        return self.value * abs(old) if self.relative else self.value


SNR = Tolerance(0.5, False, "dB; rebuilds on other runners moved the demo's SNR by up to 0.3 dB")
MAX_ERROR = Tolerance(1.0, False, "one output step: the worst sample can round either way")
COSINE = Tolerance(1e-4, False, "the demo's cosine moves in the fifth decimal between runs")
MEAN_ERROR = Tolerance(0.05, True, "5 % of the old value: rounding moves the mean a little")
ACCURACY = Tolerance(0.005, False, "half a point: two of 400 samples changing class")
MAE = Tolerance(0.02, True, "2 % of the old value, as for the mean error")
AGREEMENT = Tolerance(0.005, False, "half a point: two of 400 samples changing class")
LAYER_SNR = Tolerance(1.0, False, "dB; per-layer figures come from 256 samples only")

# figure -> (how to read it from an output, higher is better, tolerance)
FIGURES: dict[str, tuple[Callable[[OutputParity], float | None], bool, Tolerance]] = {
    "snr_db": (lambda o: o.metrics and o.metrics.snr_db, True, SNR),
    "max_error_lsb": (lambda o: o.metrics and o.metrics.max_error_lsb, False, MAX_ERROR),
    "cosine": (lambda o: o.metrics and o.metrics.cosine, True, COSINE),
    "mean_abs_error": (lambda o: o.metrics and o.metrics.mean_abs_error, False, MEAN_ERROR),
    "top1_agreement": (lambda o: o.task.top1_agreement, True, AGREEMENT),
}
TASK_TOLERANCE = {"classification": ACCURACY, "regression": MAE}


def _row(name: str, old: float, new: float, higher: bool, tol: Tolerance) -> dict[str, Any]:
    allowed = tol.allows(old)
    worse = new < old - allowed if higher else new > old + allowed
    return {"metric": name, "old": old, "new": new, "change": new - old, "tolerance": allowed,
            "why": tol.reason, "worse": worse}


def _output_rows(old: OutputParity, new: OutputParity, prefix: str) -> list[dict[str, Any]]:
    rows = []
    for name, (read, higher, tol) in FIGURES.items():
        a, b = read(old), read(new)
        if a is not None and b is not None:
            rows.append(_row(prefix + name, a, b, higher, tol))
    if old.task.kind and old.task.kind == new.task.kind and old.task.quantized is not None \
            and new.task.quantized is not None:
        task = tasks.get(new.task.kind)
        rows.append(_row(f"{prefix}{task.metric}", old.task.quantized, new.task.quantized,
                         task.higher_is_better, TASK_TOLERANCE[task.name]))
    return rows


def compare(old_dir: Path, new_dir: Path) -> dict[str, Any]:
    """Rows per figure, per output and per layer: old, new, change, tolerance and why, worse;
    plus `worse` overall."""
    for folder in (old_dir, new_dir):
        artifacts.verify(folder, before="report", optional=(
            artifacts.MODEL_FLOAT, artifacts.MODEL_APPROX, artifacts.MODEL_TFLITE))
    old, new = ParityRecord.load(old_dir), ParityRecord.load(new_dir)
    several = len(new.outputs) > 1
    old_outputs = {o.name: o for o in old.outputs}
    rows = []
    for o in new.outputs:
        if o.name in old_outputs:
            rows += _output_rows(old_outputs[o.name], o, f"{o.name}: " if several else "")
    old_layers = {r.layer: r for r in (old.layers.layers if old.layers else [])}
    for r in new.layers.layers if new.layers else []:
        before = old_layers.get(r.layer)
        if before and before.metrics.snr_db is not None and r.metrics.snr_db is not None:
            rows.append(_row(f"layer {r.layer} snr_db", before.metrics.snr_db, r.metrics.snr_db,
                             True, LAYER_SNR))
    gate_worse = old.passed and not new.passed
    return {"old": str(old_dir), "new": str(new_dir), "old_passed": old.passed,
            "new_passed": new.passed, "rows": rows,
            "worse": gate_worse or any(r["worse"] for r in rows)}


def render(result: dict[str, Any]) -> str:
    """A plain-text table and a verdict line."""
    header = ("metric", "old", "new", "change", "tolerance", "")
    rows = [header] + [(r["metric"], fmt(r["old"]), fmt(r["new"]), f"{r['change']:+.4g}",
                        fmt(r["tolerance"]), "WORSE" if r["worse"] else "")
                       for r in result["rows"]]
    width = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, width)).rstrip() for row in rows]
    gate = (f"gate: {'passed' if result['old_passed'] else 'FAILED'} -> "
            f"{'passed' if result['new_passed'] else 'FAILED'}")
    verdict = "WORSE than" if result["worse"] else "not worse than"
    lines += ["", gate, f"{result['new']} is {verdict} {result['old']}"]
    return "\n".join(lines)
