"""Stage 3, convert: TFLite conversion with post-training quantization, then graph checks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pipeline import approximations, artifacts, targets
from pipeline.context import Context
from pipeline.gate import islands
from pipeline.gate.thresholds import Thresholds
from pipeline.inputs import batch as batches
from pipeline.inputs.signature import describe
from pipeline.progress import Reporter
from pipeline.records import ApproximateRecord, ConvertRecord
from pipeline.records.convert import Recovery
from pipeline.targets import runtime_choice
from pipeline.tflite import calibrate, quantize_modes, ranges
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.checks import run_checks, unreplaced_gelu
from pipeline.tflite.converter import DEFAULT_BATCH, convert_model, full_integer, io_tensors


def _recover(ctx: Context, model: Any, calibrated: calibrate.Calibrated, mode: str,
             chosen: dict[int, tuple[float, float]], thresholds: Thresholds, target: str,
             reporter: Reporter) -> tuple[bytes, Recovery]:
    """--recover on a CPU target: the fewest layers in float that pass the gate."""
    from pipeline.stages.convert import recover

    task = ctx.data.tasks[0] if len(ctx.data.tasks) == 1 else None
    runtime = runtime_choice.choose(targets.get(target).runtime).name
    judge = recover.judge_for(model, calibrated, mode, chosen, ctx.data.x_calib, thresholds,
                              task.agreement if task else None, runtime)
    graph = tflite_graph.parse(calibrated.data, "calibrated model")
    data, record = recover.search(judge, graph, reporter)
    verdict = "passes" if record.passed_on_decision else "still fails"
    reporter.info(f"recover: {len(record.kept_float)} layer(s) in float "
                  f"({100 * record.float_mac_share:.1f} % of the multiply-accumulates), the gate "
                  f"{verdict} on {record.decision_samples} calibration samples "
                  f"({record.recovered_figures or 'see the report'}); "
                  f"{record.int8_ms:.2f} ms all int8 -> {record.recovered_ms:.2f} ms on "
                  f"{runtime}; the layers are in the report")
    return data, record


@dataclass(frozen=True)
class Options:
    """What the convert stage takes besides the context."""

    mode: str = "int8"  # --quantize
    calibration_method: str = ranges.DEFAULT
    target: str = targets.DEFAULT
    recover: bool = False
    thresholds: Thresholds = Thresholds()  # the gate --recover searches for
    batch: int = DEFAULT_BATCH


def run(ctx: Context, opts: Options, reporter: Reporter) -> ConvertRecord:
    """Convert the replaced model, write model.tflite and convert.json, and check the graph. A
    failed check does not stop the stage: its record says which, and the gate fails on it."""
    start = time.monotonic()
    mode_name, batch, calibration_method, target, recover, thresholds = (
        opts.mode, opts.batch, opts.calibration_method, opts.target, opts.recover,
        opts.thresholds)
    mode = quantize_modes.get(mode_name)
    approximated = ctx.record(ApproximateRecord)
    approx = approximations.get(approximated.approx)
    model = ctx.replaced()
    calib_x = ctx.data.x_calib
    calibration = recovery = None
    if mode_name in calibrate.IO_TYPES:
        method = ranges.AUTO if recover and targets.get(target).accelerator \
            else calibration_method
        data, calibrated, calibration, chosen = full_integer(
            model, mode_name, calib_x, batch, method, reporter)
        if recover and not targets.get(target).accelerator:
            data, recovery = _recover(ctx, model, calibrated, mode_name, chosen, thresholds,
                                      target, reporter)
    else:
        data = convert_model(model, mode_name, calib_x, batch, reporter)
    graph = tflite_graph.parse(data, "converted model")
    checks = run_checks(graph, mode, approx)
    kept = recovery.kept_float if recovery is not None else []
    note = (f"{len(kept)} layer(s) kept in float by --recover "
            f"({100 * recovery.float_mac_share:.1f} % of the multiply-accumulates; the "
            "report's Recovery section lists them)") if kept else None
    checks = [islands.judged(c, targets.get(target).accelerator, note) for c in checks]
    sites = approximated.gelu_evaluations
    hidden = unreplaced_gelu(graph, sites) if approx.uses_gelu_op else []
    if hidden:
        gelus = graph.op_counts().get("GELU", 0)
        reporter.warn(f"{gelus} GELU ops in the converted model but {sites} GELU sites found "
                      f"({'; '.join(hidden)}): a GELU written inside a custom layer's call() "
                      "or as a formula the converter fused was not found. Harmless with --approx "
                      "lut; for other approximations make it a layer activation or a "
                      "keras.ops.gelu node")
    artifacts.clear_from(ctx.out, "convert")
    artifacts.write_bytes(ctx.out / artifacts.MODEL_TFLITE, data)
    ctx.converted(data, graph)
    inputs, outputs = io_tensors(graph, describe(model))
    record = ctx.keep(ConvertRecord(
        quantize=mode.name, approx=approx.name, batch=batch,
        calibration_samples=batches.count(calib_x) if mode.needs_calibration else 0,
        ops=graph.op_counts(), op_versions=graph.op_versions(),
        min_runtime_version=graph.metadata.get("min_runtime_version"), checks=checks,
        inputs=inputs, outputs=outputs, tflite_bytes=len(data),
        parameters=int(model.count_params()), calibration=calibration, recovery=recovery,
        seconds=time.monotonic() - start))
    ops = ", ".join(f"{k} x{v}" for k, v in record.ops.items())
    reporter.info(f"converted ({mode.name}, {len(data) / 1024:.0f} KiB): {ops}")
    for check in record.checks:
        if not check.passed:
            reporter.warn(f"graph check {check.name} "
                          f"{'warns' if check.severity == 'warning' else 'failed'}: "
                          f"{check.message}")
    return record
