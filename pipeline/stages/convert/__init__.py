"""Stage 3, convert: TFLite conversion with post-training quantization, then graph checks."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import approximations, artifacts, targets
from pipeline.context import Context
from pipeline.errors import UserError
from pipeline.gate import islands
from pipeline.gate.thresholds import Thresholds
from pipeline.inputs import batch as batches
from pipeline.inputs.signature import describe
from pipeline.progress import Reporter
from pipeline.records import ApproximateRecord, ConvertRecord
from pipeline.records.convert import Calibration, Recovery
from pipeline.records.plan import QuantPlan
from pipeline.stages.convert import host_float, int16_norms, plans
from pipeline.targets import runtime_choice
from pipeline.tflite import calibrate, placement, quantize_modes, ranges
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.checks import run_checks, unreplaced_gelu
from pipeline.tflite.converter import DEFAULT_BATCH, convert_model, full_integer, io_tensors


def _recover(ctx: Context, model: Any, calibrated: calibrate.Calibrated, mode: str,
             chosen: dict[int, tuple[float, float]], thresholds: Thresholds, runtime: str,
             reporter: Reporter) -> tuple[bytes, Recovery]:
    """--recover on a CPU target: the fewest layers in float that pass the gate."""
    from pipeline.stages.convert import recover

    started = time.monotonic()
    task = ctx.data.tasks[0] if len(ctx.data.tasks) == 1 else None
    judge = recover.judge_for(model, calibrated, mode, chosen, ctx.data.x_calib, thresholds,
                              task.agreement if task else None, runtime)
    graph = tflite_graph.parse(calibrated.data, "calibrated model")
    data, record = recover.search(judge, graph, reporter, started)
    verdict = "passes" if record.passed_on_decision else "still fails"
    reporter.info(f"recover: {len(record.kept_float)} layer(s) in float "
                  f"({100 * record.float_mac_share:.1f} % of the multiply-accumulates), the gate "
                  f"{verdict} on {record.decision_samples} calibration samples "
                  f"({record.recovered_figures or 'see the report'}); "
                  f"{record.int8_ms:.2f} ms all int8 -> {record.recovered_ms:.2f} ms on "
                  f"{runtime}; searched in {record.search_s:.0f} s; the layers are in the report")
    return data, record


@dataclass(frozen=True)
class Options:
    """What the convert stage takes besides the context."""

    mode: str = "int8"  # --quantize
    calibration_method: str = ranges.DEFAULT
    target: str = targets.DEFAULT
    runtime: str | None = None  # --runtime: the plan's hybrid weights suit it
    recover: bool = False
    thresholds: Thresholds = Thresholds()  # the gate --recover searches for
    batch: int = DEFAULT_BATCH
    plan: Path | None = None  # --plan: apply this quant_plan.json instead of deciding
    max_segments: int | None = None  # --max-segments: coral's chain of Edge TPU segments
    host_float: bool = False  # --host-float: coral's host segments in float
    int16_norms: bool = False  # --int16-norms: layer norms and residual adds with int16
    attention: str = "auto"  # --attention: attention's matmuls measured, or forced int8/float


def check_attention(attention_mode: str, mode: str, accelerator: bool, integer_only: bool
                    ) -> None:
    """--attention int8/float chooses for the matmuls placement only: refused before any work
    where every op is integer anyway (an accelerator, --integer-only) or not int8."""
    if attention_mode == "auto":
        return
    if accelerator or integer_only or mode not in calibrate.IO_TYPES:
        why = ("an accelerator target" if accelerator else "--integer-only"
               if integer_only else f"--quantize {mode}")
        raise UserError(f"--attention {attention_mode} chooses attention's matmuls beside a "
                        f"transformer's float ops; with {why} every op's precision is "
                        "already set: leave --attention out")


def _make(ctx: Context, opts: Options, model: Any, approximated: ApproximateRecord,
          reporter: Reporter) -> tuple[bytes, QuantPlan, Calibration | None, Recovery | None]:
    """Decide and apply a plan: the approximate stage's placement, then (integer) the ranges
    --calibration-method chooses and --recover's float layers, or (matmuls) the recipe."""
    target = targets.get(opts.target, opts.runtime)
    runtime = runtime_choice.choose(target.runtime, opts.runtime).name
    calib_x = ctx.data.x_calib
    if approximated.placement == placement.MATMULS and opts.mode in calibrate.IO_TYPES:
        plan = plans.matmuls_plan(opts.mode, approximated.placement_reason, runtime, opts.batch,
                                  approximated.rewrites)
        if opts.recover or opts.calibration_method != ranges.DEFAULT:
            reporter.info("int8 matrix ops with float in and out need no activation ranges: "
                          "--calibration-method and --recover apply to --integer-only builds")
        reporter.info(f"placement {plan.placement}: {plan.why}")
        data, plan = plans.matmuls(model, plan, calib_x, reporter, choose=True,
                                   attention_mode=opts.attention)
        if plan.smoothing:
            gain = sum(s.error_before for s in plan.smoothing) / max(
                sum(s.error_after for s in plan.smoothing), 1e-30)
            reporter.info(f"smoothing: {len(plan.smoothing)} matrix-op input(s) smoothed, their "
                          f"emulated int8 error {gain:.1f}x lower (quant_plan.json has each)")
        if plan.attention is not None:
            reporter.info(f"attention matmuls ({plan.attention.ops}, "
                          f"{100 * plan.attention.mac_share:.1f} % of the MACs) in "
                          f"{plan.attention.chosen}: {plan.attention.why}")
        return data, plan, None, None
    integer = opts.mode in calibrate.IO_TYPES
    why = approximated.placement_reason if integer and \
        approximated.placement == placement.INTEGER else \
        f"--quantize {opts.mode} sets every op's precision itself"
    plan = QuantPlan(mode=opts.mode, placement=placement.INTEGER, why=why, runtime=runtime,
                     batch=opts.batch, rewrites=approximated.rewrites,
                     fitted=approximated.fitted)
    if not integer:
        return convert_model(model, opts.mode, calib_x, opts.batch, reporter), plan, None, None
    if opts.int16_norms:
        data, widened = int16_norms.make(model, plan, calib_x, reporter, choose=True)
        if widened.int16_nodes:
            reporter.info(f"--int16-norms: {len(widened.int16_nodes)} op output(s) with int16 "
                          "activations (layer norms, adds of two activations); every other op "
                          "int8, the matrix ops too")
            return data, widened, None, None
        reporter.warn("--int16-norms: the model has no layer norm and no add of two "
                      "activations, so nothing to widen: the usual all-int8 conversion")
    method = ranges.AUTO if opts.recover and target.accelerator else opts.calibration_method
    data, calibrated, calibration, chosen = full_integer(
        model, opts.mode, calib_x, opts.batch, method, reporter)
    recovery = None
    plan = plan.model_copy(update={
        "calibration_method": calibration.method, "ranges": chosen,
        "calibration_samples": (batches.count(calib_x) - calibration.held_back
                                if calibration.held_back else 0)})
    if opts.host_float:
        names = host_float.float_nodes(tflite_graph.parse(data, "int8 model"), model)
        with reporter.phase("int8 model with the host segments' ops in float"):
            data = calibrate.quantize(calibrated, opts.mode, chosen, names)
        reporter.info(f"--host-float: {len(names)} op output(s) in float on the host (ops the "
                      "Edge TPU lacks, layer norms, adds of two activations); the matrix ops "
                      "and the rest of the Edge TPU's work stay int8")
        plan = plan.model_copy(update={"keep_float": [host_float.KEPT], "float_nodes": names})
    if opts.recover and not target.accelerator:
        data, recovery = _recover(ctx, model, calibrated, opts.mode, chosen, opts.thresholds,
                                  runtime, reporter)
        plan = plan.model_copy(update={"keep_float": recovery.kept_float,
                                       "float_nodes": recovery.float_nodes})
    return data, plan, calibration, recovery


def _int16_ops(graph: tflite_graph.Graph) -> int:
    """The ops that compute with int16 activations (requantizing ones aside)."""
    return sum(1 for op in graph.ops if op.name not in host_float.REQUANTIZE and op.outputs
               and graph.tensors[op.outputs[0]].dtype == "INT16")


def run(ctx: Context, opts: Options, reporter: Reporter) -> ConvertRecord:
    """Convert the replaced model, write model.tflite, quant_plan.json and convert.json, and
    check the graph. A failed check does not stop the stage: its record says which, and the
    gate fails on it."""
    start = time.monotonic()
    mode_name, batch, target = opts.mode, opts.batch, opts.target
    mode = quantize_modes.get(mode_name)
    approximated = ctx.record(ApproximateRecord)
    if opts.int16_norms and approximated.placement != placement.INTEGER:
        raise UserError("--int16-norms applies to all-integer builds, and model_approx.keras "
                        f"was made for the {approximated.placement} placement: run gelu-edge "
                        "approximate with --integer-only first")
    approx = approximations.get(approximated.approx)
    model = ctx.replaced()
    calib_x = ctx.data.x_calib
    calibration = recovery = None
    if opts.plan is not None:
        plan = plans.read(opts.plan, approximated.rewrites, approximated.fitted)
        if plan.mode != mode_name:
            raise UserError(f"{opts.plan} is a plan for --quantize {plan.mode}, not "
                            f"{mode_name}")
        data = plans.apply(plan, model, calib_x, reporter)
        made = hashlib.sha256(data).hexdigest()
        if made == plan.model_sha256:
            reporter.info(f"applied {opts.plan}: the same model.tflite as the plan's "
                          f"(sha256 {made[:12]})")
        elif plan.model_canonical_sha256 and \
                tflite_graph.canonical_sha256(data) == plan.model_canonical_sha256:
            reporter.info(f"applied {opts.plan}: the same computation as the plan's model, "
                          "its independent ops in another order (the converter's order varies "
                          "with float ops among int8 ones)")
        else:
            reporter.warn(f"applied {opts.plan}: model.tflite differs from the plan's "
                          f"(sha256 {made[:12]} against {plan.model_sha256[:12]}): another "
                          "model_approx.keras, other calibration samples or another "
                          "TensorFlow")
    else:
        data, plan, calibration, recovery = _make(ctx, opts, model, approximated, reporter)
    graph = tflite_graph.parse(data, "converted model")
    plan = plans.finish(plan, data, graph)
    # A matmuls-placed model has float ops by design: it is checked as the dynamic-range model
    # it computes like.
    checks = run_checks(graph, quantize_modes.get("dynamic") if plan.placement ==
                        placement.MATMULS else mode, approx)
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
    plan.save(ctx.out)
    ctx.converted(data, graph)
    chain = None
    if targets.get(target).name == "coral" and mode.name in calibrate.IO_TYPES:
        from pipeline.stages.convert import segment

        runtime = runtime_choice.choose(targets.get(target).runtime, opts.runtime).name
        floated = plan.keep_float == [host_float.KEPT]
        chain = segment.make(ctx.out, data, graph, opts.max_segments, ctx.data.x_eval, runtime,
                             reporter, floated)
        if floated:
            floats = sum(1 for op in graph.ops if op.name not in host_float.REQUANTIZE and any(
                graph.tensors[t].dtype == "FLOAT32" for t in op.outputs if t >= 0))
            checks = [host_float.judged(c, floats) for c in checks]
        tpu = [s for s in chain.segments if s.side == "accelerator"]
        reporter.info(f"Edge TPU segments: {len(tpu)} of {len(chain.segments)}, "
                      f"{100 * chain.accelerator_mac_share:.1f} % of the multiply-accumulates; "
                      f"the chain {'gives' if chain.chain_check.equal else 'does NOT give'} "
                      f"model.tflite's outputs on {chain.chain_check.samples} samples "
                      f"({artifacts.SEGMENTS_JSON}; the report has each segment)")
    inputs, outputs = io_tensors(graph, describe(model))
    record = ctx.keep(ConvertRecord(
        quantize=mode.name, approx=approx.name, batch=batch,
        calibration_samples=batches.count(calib_x) if mode.needs_calibration else 0,
        ops=graph.op_counts(), op_versions=graph.op_versions(),
        min_runtime_version=graph.metadata.get("min_runtime_version"), checks=checks,
        inputs=inputs, outputs=outputs, tflite_bytes=len(data),
        parameters=int(model.count_params()), calibration=calibration, recovery=recovery,
        placement=plan.placement, placement_reason=plan.why,
        int8_mac_share=plan.int8_mac_share, int16_ops=_int16_ops(graph),
        smoothing=plan.smoothing,
        attention=plan.attention, segments=chain,
        seconds=time.monotonic() - start))
    ops = ", ".join(f"{k} x{v}" for k, v in record.ops.items())
    reporter.info(f"converted ({mode.name}, {len(data) / 1024:.0f} KiB): {ops}")
    for check in record.checks:
        if not check.passed:
            reporter.warn(f"graph check {check.name} "
                          f"{'warns' if check.severity == 'warning' else 'failed'}: "
                          f"{check.message}")
    return record
