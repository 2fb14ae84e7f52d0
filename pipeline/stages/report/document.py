"""The report's content, once: the parity record (and the plots) -> a list of blocks that the
Markdown and HTML writers render. Every figure comes from parity.json; nothing is recomputed."""

from __future__ import annotations

from typing import Any

from pipeline import targets
from pipeline.records.parity import Metrics, ParityRecord
from pipeline.stages.report import device, gains, segments
from pipeline.stages.report.blocks import Block, fmt, size
from pipeline.stages.report.blocks import short as _short

METRIC_COLUMNS = ("max_abs_error", "mean_abs_error", "rmse", "snr_db", "cosine", "max_error_lsb")
COMPARISONS = (
    ("metrics", "quantized vs float reference"),
    ("approx_metrics", "approximation (float) vs float reference"),
    ("quantization_metrics", "quantized vs approximation (float)"),
)
GELU_MARK = "GELU"


def _pass(passed: bool, severity: str = "error") -> str:
    return "pass" if passed else "warning" if severity == "warning" else "**FAIL**"


def _setup(p: ParityRecord) -> list[Block]:
    rt = p.runtime
    where = rt.where + (f", {rt.cpu}" if rt.cpu else "")
    if rt.on and rt.on != "local":
        where += f", --on {rt.on}"
    blocks = [
        Block("h1", f"gelu-edge parity: {'PASSED' if p.passed else 'FAILED'}"),
        Block("list", items=[
            f"target: `{p.target}`, quantize: `{p.quantize}`, placement: `{p.placement}`"
            + (f" ({p.placement_reason})" if p.placement_reason else "")
            + (f"; {p.int16_ops} op(s) with int16 activations" if p.int16_ops else ""),
            f"runtime: {rt.name} {rt.version} on {rt.machine or 'unknown'} ({where})",
            f"GELU approximation: `{p.approx.name}`, {p.approx.replaced} site(s) replaced",
            f"model: {p.size.parameters:,} parameters; model_float.keras "
            f"{size(p.size.keras_bytes)}, model.tflite {size(p.size.tflite_bytes)}",
            f"samples: {p.samples} ({p.data.split} of `{p.data.path}`; calibration: "
            f"{p.data.calibration})",
            *([f"runtime stand-in: {rt.note}"] if rt.note else []),
        ]),
    ]
    if p.timings:
        blocks[-1].items.append("time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s"
                                                      for k, v in p.timings.items()))
    if p.data.warnings:
        blocks.append(Block("list", items=[f"data warning: {w}" for w in p.data.warnings]))
    if p.runtime_failure is not None:
        f = p.runtime_failure
        where = f" The op is {f.op}, from layer `{f.layer}`." if f.op else ""
        blocks += [Block("h2", "The runtime could not run the model"),
                   Block("p", f"{f.message.rstrip('.')}.{where} No quantized outputs exist, so "
                              "the figures below compare the float models only; the target "
                              "check says which ops the target lacks.")]
    return blocks


def _io(p: ParityRecord) -> list[Block]:
    return [Block("h2", "Inputs and outputs"),
            Block("p", "Integer inputs (token ids, masks) stay integer and are fed as they are; "
                       "float inputs and outputs are quantized with the scale and zero point "
                       "shown."),
            Block("table", header=["", "name", "type", "shape", "scale", "zero point"],
                  rows=[[kind, t.name, t.dtype, "x".join(map(str, t.shape)), t.scale,
                         t.zero_point]
                        for kind, ts in (("input", p.inputs), ("output", p.output_tensors))
                        for t in ts])]


def _gate(p: ParityRecord) -> list[Block]:
    return [Block("h2", "Thresholds"),
            Block("table", header=["output", "threshold", "value", "limit", "result"],
                  rows=[[t.output, t.threshold, t.value, f"{t.op} {t.limit}", _pass(t.passed)]
                        for t in p.thresholds]),
            Block("h2", "Graph and target checks"),
            Block("table", header=["check", "result", "message"],
                  rows=[[c.name, _pass(c.passed, c.severity), c.message] for c in p.checks])]


def _metric_row(label: str, m: Metrics | None) -> list[Any]:
    return [label, *((getattr(m, c) for c in METRIC_COLUMNS) if m else [None] * 6)]


def _budget(p: ParityRecord) -> list[Block]:
    first = p.first
    if first.quantization_metrics is None:
        text = "No quantized outputs: the runtime could not run the model."
    else:
        a, q = first.approx_metrics.rmse, first.quantization_metrics.rmse
        total = a * a + q * q
        text = ("Error power (RMSE²) split between the GELU approximation and quantization: "
                f"approximation {100 * a * a / total:.1f} %, quantization "
                f"{100 * q * q / total:.1f} %." if total > 0 else
                "The quantized model reproduces the float reference exactly.")
    return [Block("h2", "Error budget"), Block("p", text),
            Block("table", header=["comparison", *METRIC_COLUMNS],
                  rows=[_metric_row(label, getattr(first, key)) for key, label in COMPARISONS])]


def _outputs(p: ParityRecord) -> list[Block]:
    if len(p.outputs) < 2:
        return []
    rows = []
    for o in p.outputs:
        m, task = o.metrics, o.task
        rows.append([o.name, m and m.snr_db, m and m.max_error_lsb, m and m.cosine, task.metric,
                     task.reference, task.quantized, task.top1_agreement])
    return [Block("h2", "Per output"),
            Block("p", "Each output of the model against its float reference (the sections "
                       "below show the first output)."),
            Block("table", header=["output", "SNR dB", "max error LSB", "cosine", "metric",
                                   "float", "quantized", "top-1 agreement"], rows=rows)]


def _task(p: ParityRecord) -> list[Block]:
    task = p.first.task
    if task.kind is None:
        return [Block("h2", "Task metric"), Block("p", task.note or "absent")]
    blocks = [Block("h2", "Task metric"),
              Block("table", header=["metric", "float", "approximation", "quantized"],
                    rows=[[task.metric, task.reference, task.replaced, task.quantized]])]
    if task.top1_agreement is not None:
        blocks.append(Block("p", "Top-1 agreement, quantized vs float: "
                                 f"{task.top1_agreement:.4f}"))
    ft = p.fine_tune
    if ft:
        blocks.append(Block("p", f"Fine-tuned {ft.epochs} epochs on {ft.train_samples} "
                                 f"samples after replacing GELU: {ft.metric} of the replaced "
                                 f"float model {fmt(ft.before)} -> {fmt(ft.after)}."))
    return blocks


def _layers(p: ParityRecord) -> list[Block]:
    table = p.layers
    if table is None or not table.layers:
        return []
    blocks = [Block("h2", "Per-layer parity (worst first)"),
              Block("p", f"Each layer's float output (the replaced model, layers at any depth) "
                    f"against the quantized model's tensor that agrees with it best, on "
                    f"{table.samples} samples (intermediate tensors kept, the runtime's "
                    f"optimized kernels). RMSE / scale near {table.healthy_rmse_over_scale:.2f} "
                    f"is plain rounding noise; {GELU_MARK} marks the GELU sites. A scaled "
                    "match is a tensor that holds the layer's output times a constant the "
                    "converter folded in (attention's 1/sqrt(d), for one): its figures compare "
                    "the two as they are.")]
    jump = table.first_jump
    if jump is not None:
        before = (f" from {jump.previous_snr_db:.1f} dB at the layer before"
                  if jump.previous_snr_db is not None else "")
        blocks.append(Block("p", f"**The error first jumps at `{jump.layer}`** "
                                 f"({jump.layer_class}): {jump.snr_db:.1f} dB{before}. "
                                 f"What would help: {jump.advice}."))
    blocks.append(Block("table", header=["layer", "class", "tensor", "max abs", "mean abs",
                                         "RMSE", "RMSE / scale", "SNR dB"],
                        rows=[[r.layer + (f" ({GELU_MARK})" if r.gelu_site else "")
                               + (" (scaled match)" if r.match == "scaled" else ""),
                               r.layer_class, _short(r.tensor_name), r.metrics.max_abs_error,
                               r.metrics.mean_abs_error, r.metrics.rmse, r.rmse_over_scale,
                               r.metrics.snr_db]
                              for r in table.layers]))
    if table.unmatched:
        blocks.append(Block("p", "Layers no tensor of the quantized model holds (the converter "
                                 f"fused them into their neighbours): "
                                 f"{', '.join(table.unmatched)}."))
    return blocks


def _sites(p: ParityRecord) -> list[Block]:
    if not p.gelu_sites:
        return []
    return [Block("h2", "GELU sites"),
            Block("p", f"Each replaced GELU: the input range calibration gave it, its output "
                  f"scale, and `{p.approx.name}`'s int8 error against exact GELU over that "
                  "range (all 256 input codes of a single-op model calibrated on it)."),
            Block("table", header=["site", "input range", "output scale", "int8 max LSB",
                                   "int8 mean LSB"],
                  rows=[[s.site, f"[{s.input_range[0]:.3g}, {s.input_range[1]:.3g}]",
                         s.output_scale, s.int8_max_lsb, s.int8_mean_lsb]
                        for s in p.gelu_sites])]


def _rewrites(p: ParityRecord) -> list[Block]:
    sites = p.approx.rewrite_sites
    applied = ", ".join(f"`{r}`" for r in p.approx.rewrites) or "none"
    blocks = [Block("h2", "Rewrites"),
              Block("p", f"Rewrites applied: {applied}. Each site below with the largest "
                         "difference between the layer's float output and its replacement's on "
                         "the same inputs (absolute, and relative to the output's largest "
                         "magnitude); GELU sites are listed with their int8 error above.")]
    if sites:
        blocks.append(Block("table", header=["rewrite", "site", "class", "what", "float max abs",
                                             "float max rel"],
                            rows=[[s.rewrite, s.path, s.layer_class, s.detail, s.float_max_abs,
                                   s.float_max_rel] for s in sites]))
    return blocks


def _attention(p: ParityRecord) -> list[Block]:
    a = p.attention
    if a is None:
        return []
    return [Block("h2", "Attention matmuls"),
            Block("p", f"{a.ops} activation x activation BATCH_MATMUL(s), "
                       f"{100 * a.mac_share:.1f} % of the matrix ops' multiply-accumulates, run "
                       f"in {a.chosen}: {a.why}.")]


def _smoothing(p: ParityRecord) -> list[Block]:
    if not p.smoothing:
        return []
    return [Block("h2", "Smoothing"),
            Block("p", "Inputs of the int8 matrix ops whose channels were divided by factors "
                       "moved into the weights (SmoothQuant; exact in float, so only where the "
                       "int8 grid falls changes). Per input: the alpha chosen, the emulated "
                       "int8 error power of its consumers' outputs (relative) without and with "
                       "it, and the largest float difference it made at those outputs "
                       "(relative). The factors are in quant_plan.json."),
            Block("table", header=["input", "consumers", "alpha", "int8 error before",
                                   "after", "float max rel"],
                  rows=[[s.tensor.split(";")[-1], len(s.consumers), s.alpha, s.error_before,
                         s.error_after, s.float_max_rel] for s in p.smoothing])]


def _calibration(p: ParityRecord) -> list[Block]:
    c = p.calibration
    if c is None:
        return []
    text = (f"Calibration method: `{c.method}`" + (f" (asked: `{c.requested}`)"
                                                    if c.requested != c.method else "")
            + f"; it set the range of {c.tensors} tensors.")
    blocks = [Block("h2", "Calibration"), Block("p", text)]
    if c.trials:
        blocks += [Block("p", f"`auto` compared the methods on {c.held_back} calibration samples "
                              "kept aside (worst output SNR against float):"),
                   Block("table", header=["method", "SNR dB"],
                         rows=[[t.method, t.snr_db] for t in c.trials])]
    if c.changed:
        blocks += [Block("p", "The tensors whose range moved most from min/max:"),
                   Block("table", header=["tensor", "layer", "min/max", "chosen"],
                         rows=[[_short(r.tensor), r.layer,
                                f"[{r.recorded[0]:.4g}, {r.recorded[1]:.4g}]",
                                f"[{r.chosen[0]:.4g}, {r.chosen[1]:.4g}]"] for r in c.changed])]
    return blocks


def _recovery(p: ParityRecord) -> list[Block]:
    r = p.recovery
    if r is None:
        return []

    def figures(snr: float | None, other: str) -> str:
        return ", ".join(x for x in (f"{snr:.2f} dB" if snr is not None else "", other) if x)

    on = f"on {r.decision_samples} calibration samples" + (
        f" (agreement limits raised by {100 * r.decision_margin:.0f} % of their headroom there)"
        if r.decision_margin else "")
    if not r.kept_float:
        verdict = "met" if r.passed_on_decision else "missed"
        text = (f"`--recover` kept nothing in float: the int8 model {verdict} the gate {on} "
                f"({figures(r.int8_snr_db, r.int8_figures)})"
                + ("." if r.passed_on_decision else
                   "; with every layer in float it failed too, so no layer can recover it: the "
                   "int8 inputs and outputs, the GELU approximation or a rewrite cost more than "
                   "the gate allows."))
    else:
        verdict = "meets" if r.passed_on_decision else "still misses"
        text = (f"`--recover` keeps {len(r.kept_float)} layer(s) in float, "
                f"{100 * r.float_mac_share:.1f} % of the matrix multiply-accumulates, the fewest "
                f"its search found; {on} the model {verdict} the gate. All int8: "
                f"{figures(r.int8_snr_db, r.int8_figures)}; recovered: "
                f"{figures(r.recovered_snr_db, r.recovered_figures)}. Latency on {r.runtime} "
                f"(one thread): {r.int8_ms:.2f} ms all int8, {r.recovered_ms:.2f} ms recovered"
                + (f", {r.float_ms:.2f} ms with every layer in float." if r.float_ms else ".")
                + (f" The search took {r.search_s:.0f} s of its {r.budget_s:.0f} s budget."
                   if r.budget_s else ""))
    blocks = [Block("h2", "Recovery"), Block("p", text)]
    if r.kept_float:
        blocks.append(Block("list", items=[f"`{s}` in float" for s in r.kept_float]))
    return blocks


def _sensitivity(p: ParityRecord) -> list[Block]:
    if not p.sensitivity:
        return []
    base = p.first.metrics.snr_db if p.first.metrics else None
    return [Block("h2", "Sensitivity: one layer kept in float"),
            Block("p", f"End-to-end SNR today: {fmt(base)} dB. Keeping one layer in float "
                       "(its ops denylisted from quantization) would give:"),
            Block("table", header=["layer", "ops kept float", "SNR dB", "gain dB",
                                   "max abs error", "note"],
                  rows=[[r.layer, r.kept_float_ops, r.snr_db,
                         (r.snr_db - base) if r.snr_db is not None and base is not None
                         else None, r.max_abs_error, r.note] for r in p.sensitivity])]


def _compat(p: ParityRecord) -> list[Block]:
    compat = p.compat
    blocks = [Block("h2", f"Target compatibility: {compat.target}"),
              Block("p", compat.summary),
              Block("table", header=["op", "version", "count", "verdict", "reason"],
                    rows=[[v.op, v.version, v.count, v.verdict, v.reason]
                          for v in compat.ops]),
              Block("table", header=["rule", "result", "message"],
                    rows=[[r.name, _pass(r.passed), r.message] for r in compat.rules])]
    details = targets.describe_details(compat)
    items = details + [f"note: {n}" for n in compat.notes]
    if items:
        blocks.append(Block("list", items=items))
    return blocks


def _auto(p: ParityRecord) -> list[Block]:
    auto = p.approx.auto
    if not auto:
        return []
    if auto.precision == "float":
        return [Block("h2", "Why this approximation (--approx auto)"), Block("p", auto.reason),
                Block("table", header=["variant", "float max error", "float mean error",
                                       f"float latency ms ({auto.runtime})", "latency vs lut",
                                       "cost ok"],
                      rows=[[c.name, c.float_max_err, c.float_mean_err, c.float_latency_ms,
                             c.vs_lut, c.cost_ok] for c in auto.candidates])]
    return [Block("h2", "Why this approximation (--approx auto)"), Block("p", auto.reason),
            Block("table", header=["variant", "accepted", "int8 max LSB (top code aside)",
                                   "int8 mean LSB", "ops", f"latency ms ({auto.runtime})",
                                   "latency vs lut", f"{auto.cost} vs cheapest accepted",
                                   "cost ok"],
                  rows=[[c.name, c.accepted,
                         f"{fmt(c.int8_max_lsb)} ({fmt(c.int8_max_lsb_without_top_code)})",
                         c.int8_mean_lsb, c.ops, c.latency_ms, c.vs_lut, c.vs_cheapest,
                         c.cost_ok] for c in auto.candidates])]


def _ops(p: ParityRecord) -> list[Block]:
    blocks = [Block("h2", "Ops in model.tflite"),
              Block("table", header=["op", "count"], rows=[[k, v] for k, v in p.ops.items()])]
    if p.approx.sites:
        blocks += [Block("h2", "GELU sites replaced"),
                   Block("table", header=["site", "layer", "form", "found as"],
                         rows=[[s.path, s.layer_class, s.form, s.kind]
                               for s in p.approx.sites])]
    return blocks


def _plots(plots: dict[str, str]) -> list[Block]:
    if not plots:
        return []
    return [Block("h2", "Plots"), *[Block("image", text=title, src=src)
                                    for title, src in plots.items()]]


def build(p: ParityRecord, plots: dict[str, str]) -> list[Block]:
    """The whole report, in reading order: verdict, gate, where the error comes from, plots."""
    return [*_setup(p), *_gate(p), *gains.blocks(p), *_io(p), *_outputs(p), *_budget(p),
            *_task(p), *_layers(p), *_sites(p), *_rewrites(p), *_smoothing(p), *_attention(p),
            *_calibration(p), *_recovery(p), *_sensitivity(p), *device.blocks(p), *_compat(p),
            *segments.blocks(p), *_auto(p), *_plots(plots), *_ops(p)]
