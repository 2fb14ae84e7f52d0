"""`build`, the one orchestrator: check everything that can be checked, then run the stages in
their order (`pipeline.stages.ORDER`) on one context: each model is opened once and handed on,
the converted graph parsed once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline import presets, runstate, stages
from pipeline.approximations import auto as approx_auto
from pipeline.context import Context
from pipeline.device import places
from pipeline.errors import UserError
from pipeline.gate.thresholds import Thresholds
from pipeline.inputs.data import load_for_model
from pipeline.inputs.models import load_model
from pipeline.progress import Reporter
from pipeline.records import ParityRecord
from pipeline.stages import approximate, convert, parity, report, train
from pipeline.stages.convert import host_float, int16_norms, segment
from pipeline.stages.parity import prefetch
from pipeline.targets import DEFAULT as DEFAULT_TARGET
from pipeline.targets import get as get_target
from pipeline.tflite import quantize_modes, ranges


@dataclass(frozen=True)
class BuildOptions:
    """Everything `gelu-edge build` takes."""

    out: Path
    data: Path | None = None  # None: the demo data, or (with --model) calibration only
    model: Path | None = None
    calibration: Path | None = None
    fine_tune_epochs: int = 0
    approx: str = approx_auto.AUTO
    rewrites: str = "all"
    quantize: str | None = None  # None: the target's default
    calibration_method: str = ranges.DEFAULT
    recover: bool = False
    integer_only: bool = False  # --integer-only: every op int8 on a CPU target too
    max_segments: int | None = None  # --max-segments: coral's Edge TPU segments
    host_float: bool = False  # --host-float: coral's host segments in float
    int16_norms: bool = False  # --int16-norms: int16 layer norms and residual adds
    attention: str = "auto"  # --attention: attention's matmuls measured, or forced
    target: str = DEFAULT_TARGET
    runtime: str | None = None
    preset: str = presets.DEFAULT
    epochs: int | None = None  # None: the preset's
    seed: int = train.DEFAULT_SEED
    samples: int | None = None
    on: places.OnOptions = places.OnOptions()
    sensitivity: int = 0
    junit: Path | None = None
    thresholds: Thresholds = Thresholds()


def quantize_mode(target_name: str, quantize: str | None) -> str:
    """The quantization mode: --quantize, else the target's default; one the target runs."""
    target = get_target(target_name)
    mode = quantize or target.default_quantize
    quantize_modes.get(mode)
    if mode not in target.quantize_modes:
        raise UserError(f"target {target.name!r} runs only --quantize "
                        f"{' or '.join(target.quantize_modes)}, not {mode}")
    return mode


def run(opts: BuildOptions, reporter: Reporter) -> ParityRecord:
    """Run every stage; return the parity record. A failed graph check or threshold does not
    stop the build: the report is written and says what failed (the CLI exits 1)."""
    # Check what can be checked before any stage runs, so bad input costs nothing and leaves
    # the folder as it was (the CLI has checked the folders it writes and the place it runs on
    # before taking the folder's lock: pipeline/preflight.py).
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
    source = str(opts.model) if opts.model is not None else f"{opts.preset} preset"
    mode = quantize_mode(opts.target, opts.quantize)
    stage2 = approximate.Options(approx=opts.approx, target=opts.target, runtime=opts.runtime,
                                 fine_tune_epochs=opts.fine_tune_epochs, source=source,
                                 rewrites=opts.rewrites, mode=mode,
                                 integer_only=opts.integer_only)
    approximate.check_options(stage2, data)
    ranges.parse(opts.calibration_method)
    segment.check_option(get_target(opts.target).name, opts.max_segments)
    host_float.check_option(get_target(opts.target).name, opts.host_float)
    int16_norms.check_option(opts.int16_norms, get_target(opts.target, opts.runtime),
                             opts.runtime, mode, opts.integer_only, opts.recover,
                             opts.calibration_method)
    convert.check_attention(opts.attention, mode, get_target(opts.target).accelerator,
                            opts.integer_only)
    stage4 = parity.Options(target=opts.target, runtime=opts.runtime,
                            thresholds=opts.thresholds, samples=opts.samples, on=opts.on,
                            sensitivity=opts.sensitivity)

    ctx = Context(out=opts.out, data=data)
    options = {
        "train": train.Options(model=user_model, source=source, preset=opts.preset,
                               epochs=opts.epochs, seed=opts.seed),
        "approximate": stage2,
        "convert": convert.Options(mode=mode, calibration_method=opts.calibration_method,
                                   target=opts.target, runtime=opts.runtime,
                                   recover=opts.recover, thresholds=opts.thresholds,
                                   max_segments=opts.max_segments, host_float=opts.host_float,
                                   int16_norms=opts.int16_norms, attention=opts.attention),
        "parity": stage4,
        "report": report.Options(junit=opts.junit),
    }
    titles = {"train": f"{'train' if user_model is None else 'load'} {source}",
              "approximate": "approximate GELU and rewrite", "convert": f"convert ({mode})",
              "parity": f"parity and compatibility on target {opts.target!r}",
              "report": "report"}
    record = None
    try:
        for i, name in enumerate(stages.ORDER, 1):
            runstate.enter(name, source if name == "train" else None)
            reporter.info(f"[{i}/{len(stages.ORDER)}] {titles[name]}")
            record = stages.module(name).run(ctx, options[name], reporter)
            if name == "approximate" and opts.on.on == places.LOCAL:
                # the float models' outputs, computed beside the converter's one busy core
                ctx.prefetched = prefetch.start(ctx, opts.samples)
    finally:
        prefetch.cancel(ctx.prefetched)
    assert isinstance(record, ParityRecord)
    return record
