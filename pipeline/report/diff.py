"""`gelu-edge diff OLD NEW`: did this change make parity worse? Compares two builds' parity.json.

A metric counts as worse when it moved the wrong way by more than its tolerance (small moves
are calibration noise, not regressions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import artifacts
from pipeline.report import schema
from pipeline.report.document import fmt

# metric -> (where in parity.json, "higher" or "lower" is better, tolerance)
TOLERANCES: dict[str, tuple[tuple[str, ...], str, float]] = {
    "snr_db": (("metrics", "snr_db"), "higher", 0.5),  # dB
    "max_error_lsb": (("metrics", "max_error_lsb"), "lower", 1.0),  # one output step
    "cosine": (("metrics", "cosine"), "higher", 1e-4),
    "mean_abs_error": (("metrics", "mean_abs_error"), "lower", 0.0),
    "task_metric": (("task", "quantized"), "task", 0.0),
    "top1_agreement": (("task", "top1_agreement"), "higher", 0.0),
}
LAYER_SNR_TOL_DB = 1.0


def _get(p: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(p, dict) or key not in p:
            return None
        p = p[key]
    return p


def _worse(old: float, new: float, better: str, tol: float) -> bool:
    return new < old - tol if better == "higher" else new > old + tol


def compare(old_dir: Path, new_dir: Path) -> dict[str, Any]:
    """Rows per metric and per layer: old, new, change, worse; plus `worse` overall."""
    old = artifacts.read_json(artifacts.require(old_dir, artifacts.PARITY_JSON, "parity"))
    new = artifacts.read_json(artifacts.require(new_dir, artifacts.PARITY_JSON, "parity"))
    schema.check(old, old_dir / artifacts.PARITY_JSON)
    schema.check(new, new_dir / artifacts.PARITY_JSON)
    rows = []
    for name, (path, better, tol) in TOLERANCES.items():
        a, b = _get(old, path), _get(new, path)
        if a is None or b is None:
            continue
        if better == "task":  # accuracy: higher is better; MAE: lower
            better = "higher" if new["task"]["metric"] == "accuracy" else "lower"
        rows.append({"metric": name, "old": a, "new": b, "change": b - a, "tolerance": tol,
                     "worse": _worse(a, b, better, tol)})
    old_layers = {r["layer"]: r for r in (old.get("layers") or {}).get("layers", [])}
    for r in (new.get("layers") or {}).get("layers", []):
        before = old_layers.get(r["layer"])
        if before and before["snr_db"] is not None and r["snr_db"] is not None:
            rows.append({"metric": f"layer {r['layer']} snr_db", "old": before["snr_db"],
                         "new": r["snr_db"], "change": r["snr_db"] - before["snr_db"],
                         "tolerance": LAYER_SNR_TOL_DB,
                         "worse": _worse(before["snr_db"], r["snr_db"], "higher",
                                         LAYER_SNR_TOL_DB)})
    gate_worse = old["passed"] and not new["passed"]
    return {"old": str(old_dir), "new": str(new_dir), "old_passed": old["passed"],
            "new_passed": new["passed"], "rows": rows,
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
