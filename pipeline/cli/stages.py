"""The stage commands (train, approximate, convert, parity, report) and `build`, which runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.group import cli
from pipeline.cli.options import (
    ClickReporter,
    FolderPath,
    approx_option,
    attention_option,
    calibration_method_option,
    check_quantize,
    data_option,
    finish,
    host_float_option,
    int16_norms_option,
    integer_only_option,
    junit_option,
    load_data,
    load_setup,
    loading_options,
    max_segments_option,
    on_from,
    on_options,
    out_option,
    plan_option,
    quantize_option,
    recover_option,
    rewrites_option,
    runtime_option,
    samples_option,
    sensitivity_option,
    stage_context,
    target_option,
    threshold_options,
    thresholds_from,
    train_options,
    writes_out,
)
from pipeline.errors import CheckFailed

fine_tune_option = click.option(
    "--fine-tune-epochs", type=click.IntRange(min=0), default=0, show_default=True,
    help="After replacing GELU, fine-tune the float model this many epochs on the --data labels "
    "to win back the approximation error.")


@cli.command()
@writes_out
@out_option
@data_option
@train_options
@loading_options
def train(out: Path, model: Path | None, preset: str, epochs: int | None, seed: int,
          **kw: Any) -> None:
    """Train a preset (--preset demo or transformer), or take --model; save
    OUT/model_float.keras.

    \b
    Examples:
      gelu-edge train --out build
      gelu-edge train --model my_model.keras --data my_data.npz
    """
    from pipeline import presets
    from pipeline.context import Context
    from pipeline.inputs.models import load_model
    from pipeline.stages import train as stage

    load_setup(kw)
    user_model = load_model(model) if model is not None else None
    default = presets.get(preset).data if model is None else None
    ctx = Context(out=out, data=load_data(kw.pop("data"), kw.pop("calibration"), user_model,
                                          default))
    stage.run(ctx, stage.Options(model=user_model, source=str(model) if model else None,
                                 preset=preset, epochs=epochs, seed=seed), ClickReporter())
    click.echo(f"wrote {out / 'model_float.keras'}")


@cli.command()
@writes_out
@out_option
@data_option
@approx_option
@rewrites_option
@quantize_option
@integer_only_option
@target_option
@runtime_option
@fine_tune_option
@loading_options
def approximate(out: Path, approx: str, rewrites: str, quantize: str | None, integer_only: bool,
                target: str, runtime: str | None, fine_tune_epochs: int, **kw: Any) -> None:
    """Choose the GELU approximation (auto: for the target) and replace every GELU in
    OUT/model_float.keras; save OUT/model_approx.keras.

    \b
    Examples:
      gelu-edge approximate --out build --approx sigmoid
      gelu-edge approximate --out build --target coral
      gelu-edge approximate --out build --approx hard --data d.npz --fine-tune-epochs 3
    """
    from pipeline.records import TrainRecord
    from pipeline.stages import approximate as stage

    load_setup(kw)
    ctx = stage_context(out, kw, "reference", fine_tune=fine_tune_epochs > 0)
    opts = stage.Options(approx=approx, target=target, runtime=runtime,
                         fine_tune_epochs=fine_tune_epochs, rewrites=rewrites,
                         mode=check_quantize(target, quantize), integer_only=integer_only,
                         source=ctx.record(TrainRecord).source)
    stage.check_options(opts, ctx.data)
    stage.run(ctx, opts, ClickReporter())
    click.echo(f"wrote {out / 'model_approx.keras'}")


@cli.command()
@writes_out
@out_option
@data_option
@quantize_option
@calibration_method_option
@recover_option
@target_option
@runtime_option
@plan_option
@max_segments_option
@host_float_option
@int16_norms_option
@attention_option
@threshold_options
@loading_options
def convert(out: Path, quantize: str | None, calibration_method: str, recover: bool,
            target: str, runtime: str | None, plan: Path | None, max_segments: int | None,
            host_float: bool, int16_norms: bool, attention: str, **kw: Any) -> None:
    """Convert OUT/model_approx.keras to OUT/model.tflite and check the graph (exit 1 when a
    check fails; the model and convert.json are written either way).

    \b
    Examples:
      gelu-edge convert --out build
      gelu-edge convert --out build --quantize uint8 --target coral
      gelu-edge convert --out build --plan build/quant_plan.json
    """
    from pipeline.stages import convert as stage
    from pipeline.tflite import ranges

    load_setup(kw)
    mode = check_quantize(target, quantize)
    ranges.parse(calibration_method)
    from pipeline.stages.convert import host_float as host_float_rule
    from pipeline.stages.convert import int16_norms as int16_norms_rule
    from pipeline.stages.convert import segment
    from pipeline.targets import get as get_target

    segment.check_option(get_target(target).name, max_segments)
    host_float_rule.check_option(get_target(target).name, host_float)
    int16_norms_rule.check_option(int16_norms, get_target(target, runtime), runtime, mode, None,
                                  recover, calibration_method)
    stage.check_attention(attention, mode, get_target(target).accelerator, False)
    thresholds = thresholds_from(kw)
    ctx = stage_context(out, kw, "replaced")
    record = stage.run(ctx, stage.Options(mode=mode, calibration_method=calibration_method,
                                          target=target, runtime=runtime, recover=recover,
                                          thresholds=thresholds, plan=plan,
                                          max_segments=max_segments, host_float=host_float,
                                          int16_norms=int16_norms, attention=attention),
                         ClickReporter())
    click.echo(f"wrote {out / 'model.tflite'}")
    failed = [c for c in record.checks if c.fails_gate]
    if failed:
        raise CheckFailed("; ".join(f"{c.name}: {c.message}" for c in failed))


@cli.command()
@writes_out
@out_option
@data_option
@target_option
@runtime_option
@samples_option
@sensitivity_option
@on_options
@threshold_options
@loading_options
def parity(out: Path, target: str, runtime: str | None, samples: int | None,
           sensitivity: int, **kw: Any) -> None:
    """Compare float, replaced and quantized models on the eval split; write OUT/parity.json.

    \b
    Examples:
      gelu-edge parity --out build
      gelu-edge parity --out build --runtime litert --min-snr-db 30
      gelu-edge parity --out build --on emulated-pi
      gelu-edge parity --out build --on ssh://pi@raspberrypi.local
    """
    from pipeline.stages import parity as stage

    load_setup(kw)
    opts = stage.Options(target=target, runtime=runtime, thresholds=thresholds_from(kw),
                         samples=samples, on=on_from(kw), sensitivity=sensitivity)
    ctx = stage_context(out, kw, "reference")
    result = stage.run(ctx, opts, ClickReporter())
    click.echo(f"wrote {out / 'parity.json'}; `gelu-edge report {out}` writes parity.md, "
               "parity.html and the plots")
    finish(result)


@cli.command()
@writes_out
@click.argument("folder", required=False, type=FolderPath())
@out_option
@junit_option
def report(folder: Path | None, out: Path, junit: Path | None) -> None:
    """Rebuild every form of the report from a build folder without recomputing: parity.md,
    parity.html, plots/, manifest.json (and JUnit XML with --junit); print a summary.

    \b
    Examples:
      gelu-edge report build
      gelu-edge report build --junit parity-junit.xml
    """
    from pipeline.context import Context
    from pipeline.stages import report as stage

    finish(stage.run(Context(out=folder or out), stage.Options(junit=junit), ClickReporter()))


@cli.command()
@writes_out
@out_option
@data_option
@train_options
@approx_option
@rewrites_option
@quantize_option
@integer_only_option
@calibration_method_option
@recover_option
@target_option
@runtime_option
@max_segments_option
@host_float_option
@int16_norms_option
@attention_option
@samples_option
@sensitivity_option
@on_options
@threshold_options
@junit_option
@loading_options
@fine_tune_option
def build(out: Path, model: Path | None, preset: str, epochs: int | None, seed: int,
          approx: str, rewrites: str, quantize: str | None, integer_only: bool,
          calibration_method: str, recover: bool, target: str, runtime: str | None,
          max_segments: int | None, host_float: bool, int16_norms: bool, attention: str,
          samples: int | None,
          sensitivity: int,
          junit: Path | None, fine_tune_epochs: int,
          **kw: Any) -> None:
    """Run every stage: train, approximate, convert, parity, report.

    Exit 0 when the model is built and within thresholds, 1 when a graph check or threshold
    failed (the report says which), 2 on bad input, 70 on an internal error (OUT/error.log).

    \b
    Examples:
      gelu-edge build --quantize int8
      gelu-edge build --model minilm.keras --data eval.npz --integer-only
      gelu-edge build --preset transformer --out build-transformer
      gelu-edge build --target coral --out build-coral
      gelu-edge build --approx sigmoid --target host --out build-host
      gelu-edge build --model my_model.keras --data my_data.npz --min-snr-db 25
      gelu-edge build --model my_model.keras --calibration images/ --target coral
      gelu-edge build --model my.keras --custom-objects layers.py --data d.npz --fine-tune-epochs 3
    """
    from pipeline import build as stage

    load_setup(kw)
    opts = stage.BuildOptions(
        out=out, data=kw.pop("data"), model=model, calibration=kw.pop("calibration"),
        fine_tune_epochs=fine_tune_epochs, approx=approx, rewrites=rewrites, quantize=quantize,
        calibration_method=calibration_method, recover=recover, integer_only=integer_only,
        target=target, runtime=runtime, max_segments=max_segments, host_float=host_float,
        int16_norms=int16_norms, attention=attention,
        preset=preset,
        epochs=epochs, seed=seed,
        samples=samples, on=on_from(kw), sensitivity=sensitivity, thresholds=thresholds_from(kw),
        junit=junit,
    )
    finish(stage.run(opts, ClickReporter()))
    click.echo(f"artifacts in {out}/")
