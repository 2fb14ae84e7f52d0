"""`build`: run train -> approximate -> convert -> parity -> report in order, checking between stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import (
    approximate,
    approximations,
    artifacts,
    convert,
    places,
    presets,
    report,
    targets,
    train,
)
from pipeline.approximations import auto as approx_auto
from pipeline.errors import CheckFailed, UserError
from pipeline.inputs.data import load_for_model
from pipeline.inputs.models import load_model
from pipeline.parity import stage as parity
from pipeline.parity.thresholds import Thresholds
from pipeline.progress import Reporter
from pipeline.tflite import quantize_modes


@dataclass(frozen=True)
class BuildOptions:
    """Everything `gelu-edge build` takes."""

    out: Path
    data: Path | None = None  # None: the demo data, or (with --model) calibration only
    model: Path | None = None
    calibration: Path | None = None
    fine_tune_epochs: int = 0
    approx: str = approx_auto.AUTO
    quantize: str | None = None  # None: the target's default
    target: str = "rpi"
    runtime: str | None = None
    preset: str = "demo"
    epochs: int | None = None  # None: the preset's
    seed: int = train.DEFAULT_SEED
    samples: int | None = None
    on: places.OnOptions = places.OnOptions()
    sensitivity: int = 0
    junit: Path | None = None
    thresholds: Thresholds = Thresholds()


def run(opts: BuildOptions, reporter: Reporter) -> dict[str, Any]:
    """Run every stage; return parity.json's content. A failed graph check or threshold does not
    stop the build: the report is written and says what failed (the CLI exits 1)."""
    # Check what can be checked before any stage runs, so bad input costs nothing.
    user_model = load_model(opts.model) if opts.model is not None else None
    path = opts.data
    if path is None and opts.model is None and opts.calibration is None:
        path = presets.get(opts.preset).data
    data = load_for_model(path, opts.calibration, user_model, opts.fine_tune_epochs > 0)
    for warning in data.warnings:
        reporter.warn(warning)
    if opts.model is None:
        presets.get(opts.preset)
        if data.x_train is None or data.y_train is None:
            raise UserError(f"{data.path}: preset {opts.preset!r} trains on x_train/y_train; "
                            "pass --model for your own trained model")
    if opts.fine_tune_epochs and (data.x_train is None or data.y_train is None):
        raise UserError("--fine-tune-epochs needs --data with labels (x and y)")
    if opts.fine_tune_epochs and len(data.tasks) > 1:
        raise UserError("--fine-tune-epochs supports models with one output for now")
    if opts.approx != approx_auto.AUTO:
        approximations.get(opts.approx)
    target = targets.get(opts.target)
    opts.on.place()
    quantize = opts.quantize or target.default_quantize
    quantize_modes.get(quantize)
    if quantize not in target.quantize_modes:
        raise UserError(f"target {target.name!r} runs only --quantize "
                        f"{' or '.join(target.quantize_modes)}, not {quantize}")
    if opts.model is None:
        reporter.info(f"[1/5] train ({opts.preset} preset)")
    else:
        reporter.info(f"[1/5] load {opts.model}")
    train.run(opts.out, data, opts.model, opts.epochs, opts.seed, reporter, opts.preset)
    approx = approx_auto.resolve(opts.out, opts.approx, target.name, opts.runtime, reporter)
    reporter.info(f"[2/5] approximate GELU with {approx!r}")
    replaced = approximate.run(
        opts.out, opts.out / artifacts.MODEL_FLOAT, approx, data.x_eval, reporter,
        approximate.FineTune(opts.fine_tune_epochs, data) if opts.fine_tune_epochs else None,
        source=str(opts.model) if opts.model is not None else f"{opts.preset} preset")
    reporter.info(f"[3/5] convert ({quantize})")
    result = convert.run(opts.out, opts.out / artifacts.MODEL_APPROX, quantize, approx,
                         data.x_calib, reporter, sites=sum(s.calls for s in replaced.sites))
    for check in result.checks:
        if not check.passed:
            reporter.warn(f"graph check {check.name} failed: {check.message}")
    reporter.info(f"[4/5] parity and compatibility on target {target.name!r}")
    try:
        parity.run(opts.out, data, opts.target, opts.runtime, opts.thresholds, reporter, opts.samples,
                   opts.on, opts.sensitivity)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} (model.tflite and convert.json are in {opts.out})") from None
    reporter.info("[5/5] report")
    return report.run(opts.out, opts.junit)
