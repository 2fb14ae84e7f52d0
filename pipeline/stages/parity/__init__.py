"""Stage 4, parity: float reference vs replaced float model vs the quantized model on the target
runtime (in its own process), on the evaluation split. Writes parity_samples.npz and parity.json.

The target's check runs first. If the runtime cannot load or run the model, the record still
comes out: it says what the runtime said, which op and which layer, and the gate fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import artifacts, targets
from pipeline.context import Context
from pipeline.device import edge_client, places
from pipeline.device import parity as device
from pipeline.device.edge_session import Staged, run_split
from pipeline.errors import CheckFailed
from pipeline.gate import islands as gate_islands
from pipeline.gate import metrics
from pipeline.gate.thresholds import Thresholds, evaluate
from pipeline.inputs import batch
from pipeline.inputs.data import Dataset, check_model_input
from pipeline.inputs.signature import describe
from pipeline.progress import Reporter
from pipeline.records import ApproximateRecord, CheckResult, ConvertRecord, TrainRecord
from pipeline.records.parity import (
    ApproxInfo,
    DataInfo,
    DeviceComparison,
    Gains,
    ModelSize,
    OutputParity,
    ParityRecord,
    Quantization,
    RuntimeFailure,
    RuntimeInfo,
    TaskResult,
    ThresholdRow,
)
from pipeline.records.plan import QuantPlan
from pipeline.stages.parity import gains, gelu_sites, islands, segment_chain, sensitivity
from pipeline.stages.parity import per_layer as layers
from pipeline.targets import runtime_choice
from pipeline.targets.cpu import runtime_failure_origin
from pipeline.tasks.base import Task

NO_LABELS = {  # why the task metric is absent, by what the evaluation samples are
    "calibration": "no labels (--data not given): the task metric is absent; parity compares "
                   "the models' outputs on the calibration samples",
    "other": "no labels for this output in --data: the task metric is absent; parity compares "
             "the models' outputs (for embeddings, see the per-sample cosine and the "
             "nearest-neighbour agreement)"}

LOCAL_RUNNERS = 2  # runner processes for parity here (this machine has 2 cores)


@dataclass(frozen=True)
class Options:
    """What the parity stage takes besides the context."""

    target: str = targets.DEFAULT
    runtime: str | None = None
    thresholds: Thresholds = Thresholds()
    samples: int | None = None  # the first N eval samples; None: all (off this machine: the
    # --device-budget decides)
    on: places.OnOptions = places.OnOptions()
    sensitivity: int = 0  # layers to try in float


class Clock:
    """Seconds spent in each part of the stage."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


@dataclass
class Run:
    """What the runtime gave: the raw and dequantized outputs, and where it ran."""

    arrays: dict[str, np.ndarray]
    runtime: RuntimeInfo
    quantization: list[Quantization]
    device_vs_host: DeviceComparison | None = None


def _task(task: Task | None, y_true: np.ndarray | None, y_float: np.ndarray,
          y_approx: np.ndarray, y_q: np.ndarray | None, eval_split: str) -> TaskResult:
    if task is None or y_true is None:
        why = NO_LABELS["calibration" if eval_split == "calibration" else "other"]
        return TaskResult(kind=None, metric=None, note=why)
    agreement = task.agreement(y_float, y_q) if task.agreement and y_q is not None else None
    return TaskResult(kind=task.name, metric=task.metric, reference=task.score(y_true, y_float),
                      replaced=task.score(y_true, y_approx),
                      quantized=task.score(y_true, y_q) if y_q is not None else None,
                      top1_agreement=agreement)


def _runtime(about: dict[str, Any], on: places.OnOptions) -> RuntimeInfo:
    return RuntimeInfo(name=about["name"], version=about["version"], machine=about["machine"],
                       where=about.get("where", "local"), on=on.on, python=about["python"],
                       cpu=about.get("cpu"), emulator=about.get("emulator"),
                       delegate=on.delegate)


def _run_here(ctx: Context, x: batch.Inputs, runtime: str, on: places.OnOptions,
              reporter: Reporter, meanwhile: Callable[[], Any]) -> Run:
    """The quantized model on this machine, in runner processes of its own: one per core (at
    most LOCAL_RUNNERS) on interleaved samples, which halves this step on a big model (MiniLM,
    600 sentences: 36 s in one runner) and costs a small one nothing (they start together).
    `meanwhile` (the float models' outputs) runs here while they do; if it fails or is
    interrupted, the runners are stopped."""
    runners = min(LOCAL_RUNNERS, os.cpu_count() or 1)
    cancel = threading.Event()
    with edge_client.LOCAL.session(reporter) as session, ThreadPoolExecutor(1) as pool:
        staged = Staged.stage(session, ctx.out / artifacts.MODEL_TFLITE, "this machine")
        running = pool.submit(run_split, staged, x, runtime, reporter, on.run_timeout, runners,
                              delegate=on.delegate, cancel=cancel)
        try:
            meanwhile()
        except BaseException:
            cancel.set()
            raise
        ran = running.result()
    return Run(ran.arrays, _runtime(ran.about, on), _quantization(ran.about))


def _run_on_device(ctx: Context, x_eval: batch.Inputs, samples: int | None, runtime: str,
                   on: places.OnOptions, reporter: Reporter) -> Run:
    """Off this machine: the runs the time budget affords there and here, compared."""
    found = device.run(ctx, x_eval, runtime, on, samples, reporter)
    return Run(found.arrays, _runtime(found.about, on), _quantization(found.about),
               found.comparison)


def output_bits(dtype: str) -> int:
    """An integer output type's width (INT16 -> 16); 8 for anything else."""
    digits = "".join(c for c in dtype if c.isdigit())
    return int(digits) if dtype.upper().startswith(("INT", "UINT")) and digits else 8


def _quantization(about: dict[str, Any]) -> list[Quantization]:
    return [Quantization(scale=scale or None, zero_point=zp if scale else None)
            for scale, zp in about.get("outputs_quantization", [about["output_quantization"]])]


def _failed_runtime(ctx: Context, runtime: str, on: places.OnOptions, message: str
                    ) -> tuple[RuntimeInfo, RuntimeFailure]:
    """The runtime's words, the op and the layer they point at, and what the runtime is."""
    origin = runtime_failure_origin(ctx.graph(), message)
    about = {"python": "", "where": "local", **edge_client.runtime_info(runtime)} \
        if on.on == places.LOCAL else {"name": runtime, "version": "", "machine": "",
                                       "python": "", "where": on.on}
    return (_runtime(about, on), RuntimeFailure(message=message, op=origin and origin[0],
                                                layer=origin and origin[1]))


def _island_check(check: CheckResult, ctx: Context, target: Any, runtime: str) -> CheckResult:
    """Float islands are an error for an accelerator; on a CPU target a warning that says what
    they cost on its runtime."""
    if check.name != gate_islands.ISLAND_CHECK or check.passed or target.accelerator:
        return check
    found = islands.cost(ctx.out / artifacts.MODEL_TFLITE, ctx.graph(), runtime)
    extra = f" {found.describe(runtime)}" if found else ""
    return gate_islands.judged(check, target.accelerator, check.message + extra)


def _diagnostics(ctx: Context, x: batch.Inputs, y_float: list[np.ndarray], runtime: str,
                 opts: Options, reporter: Reporter, clock: Clock) -> dict[str, Any]:
    """Where the error comes from: per-layer table, GELU sites, sensitivity (when asked)."""
    approximated = ctx.record(ApproximateRecord)
    tflite_path = ctx.out / artifacts.MODEL_TFLITE
    site_layers = {s.layer for s in approximated.sites}
    table = layers.per_layer(ctx.replaced(), ctx.graph(), tflite_path, x, runtime, site_layers,
                             reporter)
    clock.lap("per_layer")
    scales = {row.layer: row.scale for row in table.layers}
    sites = []
    if approximated.sites:
        sites, curves = gelu_sites.analyse(ctx.replaced(), approximated.approx, approximated.sites,
                                           ctx.data.x_calib, runtime, scales, reporter)
        artifacts.write_npz(ctx.out / artifacts.GELU_CURVES, **curves)
    clock.lap("gelu_sites")
    rows = []
    why_not = sensitivity.unavailable(ctx.record(QuantPlan)) if opts.sensitivity else None
    if why_not:
        reporter.warn(f"--sensitivity: not for this build: {why_not}")
    elif opts.sensitivity:
        ok_rows = [row for row in table.layers if row.match == "ok"]
        names = [(row.layer, row.tensor_name) for row in ok_rows[:opts.sensitivity]]
        rows = sensitivity.run(ctx.replaced(), ctx.graph(), ctx.record(QuantPlan), names, x,
                               y_float, ctx.data.x_calib, runtime, reporter)
        clock.lap("sensitivity")
    return {"layers": table, "gelu_sites": sites, "sensitivity": rows}


def _gains(ctx: Context, converted: ConvertRecord, run: Run, failure: RuntimeFailure | None,
           on: places.OnOptions, accelerator: bool, reporter: Reporter) -> Gains:
    """What int8 buys; latency only on this machine's runtime, on its CPU alone, and only for a
    CPU target (an accelerator's speed is not its host CPU's)."""
    skip = None
    if accelerator:
        skip = ("the target is an accelerator: this machine's CPU latency says nothing about "
                "it")
    elif on.on != places.LOCAL:
        skip = (f"parity ran with --on {on.on}; latency is measured only when parity runs on "
                "this machine (--on local)")
    elif failure is not None:
        skip = "the runtime could not run model.tflite"
    elif on.delegate:
        skip = f"parity ran with a delegate ({on.delegate}): CPU latency is not its latency"
    where = gains.Where(runtime=run.runtime.name, machine=run.runtime.machine, skip=skip)
    return gains.measure(ctx.graph(), ctx.out / artifacts.MODEL_TFLITE, converted.arithmetic,
                         converted.recovery, ctx.replaced(), ctx.data.x_calib, converted.batch,
                         where, reporter)


def _far_share(data: Dataset, n: int, y_float: list[np.ndarray],
               y_q: list[np.ndarray] | None) -> list[str]:
    """What the evaluation samples far outside the calibration range do to the figures."""
    far = [i for i in data.far_samples if i < n]
    if not far or y_q is None:
        return []
    err = sum(np.sum((q.reshape(n, -1).astype(np.float64) - f.reshape(n, -1)) ** 2, axis=1)
              for f, q in zip(y_float, y_q))
    total = float(np.sum(err))
    share = float(np.sum(err[far])) / total if total > 0 else 0.0
    keep = np.setdiff1d(np.arange(n), far)
    snr = metrics.snr_db(y_float[0][keep], y_q[0][keep], None) if len(keep) else None
    rest = f"; without them the first output's SNR is {snr:.1f} dB" if snr is not None else ""
    return [f"the {len(far)} evaluation samples far outside the calibration range carry "
            f"{100 * share:.1f} % of the quantization error power{rest}"]


def _measured(ctx: Context) -> dict[str, str]:
    """The sha256 of what this record measured: the three models and the data."""
    found = {name: artifacts.sha256_file(ctx.out / name)
             for name in (artifacts.MODEL_FLOAT, artifacts.MODEL_APPROX, artifacts.MODEL_TFLITE)}
    data = Path(ctx.data.path)
    if data.is_file():
        found["data"] = artifacts.sha256_file(data)
    return found


def _samples(x: batch.Inputs, labels: list[np.ndarray] | None, y_float: list[np.ndarray],
             y_approx: list[np.ndarray], y_q: list[np.ndarray] | None,
             arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """parity_samples.npz: x (x_0, x_1, ... for several inputs); per output y_true, y_float,
    y_approx, y_quantized, y_quantized_raw, the first output without a suffix, the others
    with _<index>."""
    found: dict[str, np.ndarray] = ({"x": x} if not isinstance(x, list)
                                    else {f"x_{i}": a for i, a in enumerate(x)})
    for i in range(len(y_float)):
        suffix = "" if i == 0 else f"_{i}"
        if labels is not None and i < len(labels):
            found[f"y_true{suffix}"] = labels[i]
        found.update({f"y_float{suffix}": y_float[i], f"y_approx{suffix}": y_approx[i]})
        if y_q is not None:
            found.update({f"y_quantized{suffix}": y_q[i],
                          f"y_quantized_raw{suffix}": arrays[f"y_raw{i}"]})
    return found


def run(ctx: Context, opts: Options, reporter: Reporter) -> ParityRecord:
    """Compare the three models on the eval split; write parity_samples.npz and parity.json."""
    target = targets.get(opts.target, opts.runtime)
    opts.on.place()  # a malformed --on fails before any work
    artifacts.verify(ctx.out, before="parity")
    choice = runtime_choice.choose(target.runtime, opts.runtime)
    if opts.on.on != places.LOCAL:  # the device has its own runtimes
        choice = runtime_choice.RuntimeChoice(opts.runtime or target.runtime)
    runtime = choice.name
    if choice.note:
        reporter.warn(choice.note)
    data = ctx.data
    approximated = ctx.record(ApproximateRecord)
    converted = ctx.record(ConvertRecord)
    reference, replaced = ctx.reference(), ctx.replaced()
    tflite_path = artifacts.require(ctx.out, artifacts.MODEL_TFLITE, "convert")

    clock = Clock()
    reporter.info(f"checking model.tflite against target {target.name!r}")
    compat = target.check(tflite_path, ctx.graph())
    clock.lap("target_check")
    x = data.x_eval if opts.samples is None else batch.take(data.x_eval,
                                                             slice(0, opts.samples))
    signature = describe(reference)
    check_model_input(data.path, x, signature)
    failure = None
    predicted: list[tuple[list[np.ndarray], list[np.ndarray]]] = []

    def float_models() -> None:
        ready = ctx.prefetched.take(batch.count(x)) if ctx.prefetched is not None else None
        predicted.append(ready or (signature.predict(reference, x),
                                   signature.predict(replaced, x)))

    try:
        if opts.on.on == places.LOCAL:  # the float models run while the runners do
            result = _run_here(ctx, x, runtime, opts.on, reporter, float_models)
            clock.lap("runtime_and_float_models")
        else:
            result = _run_on_device(ctx, data.x_eval, opts.samples, runtime, opts.on, reporter)
            clock.lap("runtime")
    except CheckFailed as exc:  # the runtime could not load or run it: say so in the report
        info, failure = _failed_runtime(ctx, runtime, opts.on, str(exc))
        reporter.warn(f"the runtime failed: {failure.message}")
        result = Run({}, info, [Quantization(scale=o.scale, zero_point=o.zero_point)
                                for o in converted.outputs])
    if choice.stands_in_for:
        result.runtime = result.runtime.model_copy(
            update={"stands_in_for": choice.stands_in_for, "note": choice.note})
    if failure is None:  # off this machine the budget may have run fewer eval samples
        x = batch.take(x, slice(0, len(result.arrays["y_raw0"])))
    chain = segment_chain.checked(ctx.out, converted.segments, result.arrays,
                                  result.device_vs_host, x, runtime, opts.on, failure, reporter)
    if chain is not converted.segments:  # the chain ran
        clock.lap("chain")
    n = batch.count(x)
    labels = None if data.y_eval is None else [a[:n] for a in batch.as_list(data.y_eval)]
    if predicted and batch.count(x) == len(predicted[0][0][0]):
        y_float, y_approx = predicted[0]
    else:
        y_float, y_approx = signature.predict(reference, x), signature.predict(replaced, x)
        clock.lap("float_models")
    y_q = None if failure else [result.arrays[f"y{i}"].reshape(y.shape)
                                for i, y in enumerate(y_float)]
    outputs: list[OutputParity] = []
    gate: list[ThresholdRow] = []
    tasks = data.tasks
    for i, name in enumerate(signature.output_names):
        quant = result.quantization[i]
        task = _task(tasks[i] if i < len(tasks) else None,
                     labels[i] if labels is not None and i < len(labels) else None,
                     y_float[i], y_approx[i], y_q[i] if y_q else None, data.eval_split)
        quantized = metrics.compare(y_float[i], y_q[i], quant.scale) if y_q else None
        outputs.append(OutputParity(
            name=name, metrics=quantized,
            approx_metrics=metrics.compare(y_float[i], y_approx[i], quant.scale),
            quantization_metrics=metrics.compare(y_approx[i], y_q[i], quant.scale)
            if y_q else None, task=task, quantization=quant))
        if quantized is not None:
            gate += evaluate(opts.thresholds, quantized, task, name,
                             output_bits(converted.outputs[i].dtype))
    checks = [_island_check(c, ctx, target, runtime) if failure is None else c
              for c in converted.checks]
    checks.append(segment_chain.target_check(compat, chain))
    if failure is not None:
        checks.append(CheckResult(name="runtime_runs_model", passed=False,
                                  message=failure.message))
    artifacts.clear_from(ctx.out, "parity")
    diagnostics = {} if failure else _diagnostics(ctx, x, y_float, runtime, opts, reporter,
                                                  clock)
    gained = _gains(ctx, converted, result, failure, opts.on,
                    targets.get(opts.target).accelerator, reporter)
    clock.lap("gains")
    trained = ctx.record(TrainRecord)
    timings = {"train": trained.seconds, "approximate": approximated.seconds,
               "convert": converted.seconds, **clock.laps}
    record = ParityRecord(
        passed=failure is None and all(r.passed for r in gate)
        and not any(c.fails_gate for c in checks),
        quantize=converted.quantize, placement=converted.placement,
        placement_reason=converted.placement_reason, int16_ops=converted.int16_ops,
        smoothing=converted.smoothing,
        attention=converted.attention, segments=chain,
        target=target.name,
        approx=ApproxInfo(name=approximated.approx, sites=approximated.sites,
                          auto=approximated.auto, rewrites=approximated.rewrites,
                          rewrite_sites=approximated.rewrite_sites),
        compat=compat, runtime=result.runtime, runtime_failure=failure,
        device_vs_host=result.device_vs_host, inputs=converted.inputs,
        output_tensors=converted.outputs, outputs=outputs,
        size=ModelSize(parameters=trained.parameters or converted.parameters,
                       keras_bytes=trained.keras_bytes, tflite_bytes=converted.tflite_bytes),
        samples=int(n),
        data=DataInfo(path=str(data.path), split=data.eval_split, calibration=data.calib_source,
                      warnings=list(data.warnings) + _far_share(data, n, y_float, y_q)),
        fine_tune=approximated.fine_tune, thresholds=gate,
        threshold_sources=list(opts.thresholds.sources), checks=checks, ops=converted.ops,
        calibration=converted.calibration, recovery=converted.recovery, gains=gained,
        timings=timings,
        measured=_measured(ctx),
        **diagnostics)
    artifacts.write_npz(ctx.out / artifacts.PARITY_SAMPLES,
                        **_samples(x, labels, y_float, y_approx, y_q, result.arrays))
    return ctx.keep(record)
