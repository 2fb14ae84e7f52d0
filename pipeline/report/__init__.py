"""Stage 5, report: rebuild every form of the report from a build folder's parity.json and saved
arrays, without recomputing: parity.md (and the CI step summary), parity.html, plots/*.png,
manifest.json, and JUnit XML on request."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline import artifacts
from pipeline.errors import UserError
from pipeline.report import document, html, junit, markdown, plots, schema
from pipeline.report.document import fmt
from pipeline.report.manifest import write_manifest

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def _snr(m: dict[str, Any]) -> str:
    """An SNR for the terminal; None means the outputs are identical."""
    return "identical" if m["snr_db"] is None else f"{fmt(m['snr_db'])} dB"


def summary(p: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    m, am, task = p["metrics"], p["approx_metrics"], p["task"]
    rows = [
        ("verdict", "PASSED" if p["passed"] else "FAILED"),
        ("runtime", f"{p['runtime']['name']} {p['runtime']['version']} ({p['runtime']['machine']}, "
                    f"{p['runtime']['where']})"),
        ("approx", f"{p['approx']['name']} ({p['approx']['replaced']} replaced)"),
        ("samples", p["samples"]),
        ("SNR quantized / approx", f"{_snr(m)} / {_snr(am)}"),
        ("max error", f"{fmt(m['max_error_lsb'])} LSB ({fmt(m['max_abs_error'])})"),
        (f"{task['metric']} float / quantized", f"{fmt(task['float'])} / {fmt(task['quantized'])}")
        if task["kind"] else ("task metric", "absent (no labels)"),
    ]
    cmp = p.get("device_vs_host")
    if cmp:
        rows.append(("device vs this machine", f"{cmp['differing_outputs']} of {cmp['outputs']} "
                     f"int8 outputs differ (max {fmt(cmp['max_diff_lsb'])} LSB)"))
    failed = [t["threshold"] for t in p["thresholds"] if not t["passed"]]
    failed += [c["name"] for c in p["checks"] if not c["passed"]]
    if failed:
        rows.append(("failed", ", ".join(failed)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def run(out: Path, junit_path: Path | None = None) -> dict[str, Any]:
    """Write every form of the report from OUT/parity.json; return the parity data."""
    parity = artifacts.read_json(artifacts.require(out, artifacts.PARITY_JSON, "parity"))
    schema.check(parity, out / artifacts.PARITY_JSON)
    artifacts.clear_from(out, "report")
    made = plots.make(out, parity)
    blocks = document.build(parity, made)
    text = markdown.render(blocks)
    artifacts.write_text(out / artifacts.PARITY_MD, text)
    artifacts.write_text(out / artifacts.PARITY_HTML, html.render(blocks, out))
    write_manifest(out)
    if junit_path is not None:
        artifacts.write_text(junit_path, junit.render(parity))
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as f:
                f.write(text.replace("](plots/", f"]({out}/plots/") + "\n")
        except OSError as exc:
            raise UserError(f"cannot append to ${STEP_SUMMARY_ENV} ({step_summary}): "
                            f"{exc.strerror}") from None
    return parity


__all__ = ["run", "summary", "fmt"]
