"""Stage 5, report: rebuild every form of the report from a build folder's parity.json and saved
arrays, without recomputing: parity.md (and the CI step summary), parity.html, plots/*.png,
manifest.json, and JUnit XML on request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline import artifacts
from pipeline.context import Context
from pipeline.errors import UserError
from pipeline.progress import Reporter
from pipeline.records import ParityRecord
from pipeline.records.parity import Metrics
from pipeline.stages.report import document, gains, html, junit, markdown, plots
from pipeline.stages.report.document import fmt, size
from pipeline.stages.report.manifest import write_manifest

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
# The report reads records and arrays only: the models may be gone, not changed.
MODELS = (artifacts.MODEL_FLOAT, artifacts.MODEL_APPROX, artifacts.MODEL_TFLITE)


def _snr(m: Metrics | None) -> str:
    """An SNR for the terminal; None means the outputs are identical."""
    if m is None:
        return "—"
    return "identical" if m.snr_db is None else f"{fmt(m.snr_db)} dB"


def placement_words(p: ParityRecord) -> str:
    """Where int8 went, in a few words."""
    if p.placement != "integer":
        return f"{p.placement}: the matrix ops int8 (dynamic range), the rest float"
    return f"integer, {p.int16_ops} op(s) with int16 activations" if p.int16_ops else "integer"


def summary(p: ParityRecord) -> str:
    """A few lines for the terminal."""
    first = p.first
    m, task = first.metrics, first.task
    rows = [
        ("verdict", "PASSED" if p.passed else "FAILED"),
        ("runtime", f"{p.runtime.name} {p.runtime.version} ({p.runtime.machine or '?'}, "
                    f"{p.runtime.where})"),
        ("approx", f"{p.approx.name} ({p.approx.replaced} replaced)"),
        ("placement", placement_words(p)),
        ("model", f"{p.size.parameters:,} parameters, {size(p.size.keras_bytes)} .keras, "
                  f"{size(p.size.tflite_bytes)} .tflite"),
        ("samples", p.samples),
        ("SNR quantized / approx", f"{_snr(m)} / {_snr(first.approx_metrics)}"),
    ]
    if m is not None:
        rows.append(("max error", f"{fmt(m.max_abs_error)} (a float output: no LSB)"
                     if m.max_error_lsb is None else
                     f"{fmt(m.max_error_lsb)} LSB ({fmt(m.max_abs_error)})"))
    rows.append((f"{task.metric} float / quantized", f"{fmt(task.reference)} / "
                 f"{fmt(task.quantized)}") if task.kind else ("task metric",
                                                               "absent (no labels)"))
    if p.runtime_failure is not None:
        f = p.runtime_failure
        rows.append(("runtime failed", f.message + (f" (op {f.op}, layer {f.layer})"
                                                    if f.op else "")))
    gained = gains.line(p)
    if gained:
        rows.append(("int8 buys", gained))
    cmp = p.device_vs_host
    if cmp:
        quantized = any(t.scale for t in p.output_tensors)
        what = (f"int8 outputs differ (max {fmt(cmp.max_diff_lsb)} LSB)" if quantized else
                f"float outputs differ (max {fmt(cmp.max_diff_lsb)})")
        rows.append(("device vs this machine", f"{cmp.differing_outputs} of {cmp.outputs} "
                     f"{what}"))
    if p.failed:
        rows.append(("failed", ", ".join(p.failed)))
        jump = p.layers.first_jump if p.layers else None
        if jump is not None:
            rows.append(("error first jumps at", f"{jump.layer} ({jump.layer_class}, "
                         f"{jump.snr_db:.1f} dB): {jump.advice}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


@dataclass(frozen=True)
class Options:
    """What the report stage takes besides the context."""

    junit: Path | None = None  # also write the gate as JUnit XML here


def run(ctx: Context, opts: Options, reporter: Reporter) -> ParityRecord:
    """Write every form of the report from the parity record this run made, or from
    OUT/parity.json (its chain of custody checked first)."""
    out, junit_path = ctx.out, opts.junit
    record = ctx.records.get(ParityRecord)
    if record is None:
        artifacts.verify(out, before="report", optional=MODELS)
    parity = record if record is not None else ctx.record(ParityRecord)
    artifacts.clear_from(out, "report")
    made = plots.make(out, parity)
    blocks = document.build(parity, made)
    text = markdown.render(blocks)
    artifacts.write_text(out / artifacts.PARITY_MD, text)
    artifacts.write_text(out / artifacts.PARITY_HTML, html.render(blocks, out))
    write_manifest(out, parity)
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
