"""The stage commands (train, approximate, convert, parity, report) and `build`, which runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.group import cli
from pipeline.cli.options import (
    ClickReporter,
    approx_option,
    data_option,
    finish,
    junit_option,
    load_data,
    load_setup,
    loading_options,
    on_from,
    on_options,
    out_option,
    preset_data,
    quantize_option,
    runtime_option,
    samples_option,
    sensitivity_option,
    target_option,
    threshold_options,
    thresholds_from,
    train_options,
)
from pipeline.errors import CheckFailed


@cli.command()
@out_option
@data_option
@train_options
@loading_options
def train(out: Path, data: Path | None, model: Path | None, preset: str, epochs: int | None,
          seed: int, **kw: Any) -> None:
    """Train a preset (--preset demo or transformer), or take --model; save
    OUT/model_float.keras.

    \b
    Examples:
      gelu-edge train --out build
      gelu-edge train --model my_model.keras --data my_data.npz
    """
    from pipeline import presets
    from pipeline import train as stage

    load_setup(kw)
    default = presets.get(preset).data if model is None else None
    dataset = load_data(data, kw.pop("calibration"), model, default)
    stage.run(out, dataset, model, epochs, seed, ClickReporter(), preset)
    click.echo(f"wrote {out / 'model_float.keras'}")


@cli.command()
@out_option
@data_option
@approx_option
@target_option
@runtime_option
@loading_options
def approximate(out: Path, data: Path | None, approx: str, target: str,
                runtime: str | None, **kw: Any) -> None:
    """Replace every GELU in OUT/model_float.keras; save OUT/model_approx.keras.

    \b
    Examples:
      gelu-edge approximate --out build --approx sigmoid
      gelu-edge approximate --out build --target coral
    """
    from pipeline import approximate as stage
    from pipeline.approximations.auto import resolve
    from pipeline.artifacts import MODEL_FLOAT, TRAIN_RECORD, read_json, require

    load_setup(kw)
    reporter = ClickReporter()
    model = require(out, MODEL_FLOAT, "train")
    name = resolve(out, approx, target, runtime, reporter)
    dataset = load_data(data, kw.pop("calibration"), model, preset_data(out))
    stage.run(out, model, name, dataset.x_eval, reporter,
              source=read_json(out / TRAIN_RECORD)["source"] if (out / TRAIN_RECORD).is_file()
              else None)
    click.echo(f"wrote {out / 'model_approx.keras'}")


@cli.command()
@out_option
@data_option
@quantize_option
@loading_options
def convert(out: Path, data: Path | None, quantize: str | None, **kw: Any) -> None:
    """Convert OUT/model_approx.keras to OUT/model.tflite and check the graph.

    \b
    Examples:
      gelu-edge convert --out build --quantize int8
      gelu-edge convert --out build --quantize uint8
    """
    from pipeline import convert as stage
    from pipeline.artifacts import APPROX_RECORD, MODEL_APPROX, read_json, require

    load_setup(kw)
    record = read_json(require(out, APPROX_RECORD, "approximate"))
    model = require(out, MODEL_APPROX, "approximate")
    result = stage.run(out, model, quantize or "int8", record["approx"],
                       load_data(data, kw.pop("calibration"), model, preset_data(out)).x_calib,
                       ClickReporter(), sites=sum(s.get("calls", 1) for s in record["sites"]))
    click.echo(f"wrote {out / 'model.tflite'}")
    failed = [c for c in result.checks if not c.passed]
    if failed:
        raise CheckFailed("; ".join(f"{c.name}: {c.message}" for c in failed))


@cli.command()
@out_option
@data_option
@target_option
@runtime_option
@samples_option
@sensitivity_option
@on_options
@threshold_options
@loading_options
def parity(out: Path, data: Path | None, target: str, runtime: str | None, samples: int | None,
           sensitivity: int, **kw: Any) -> None:
    """Compare float, replaced and quantized models on the eval split; write OUT/parity.json.

    \b
    Examples:
      gelu-edge parity --out build
      gelu-edge parity --out build --runtime litert --min-snr-db 30
      gelu-edge parity --out build --on emulated-pi
      gelu-edge parity --out build --on ssh://pi@raspberrypi.local
    """
    from pipeline.parity import stage

    load_setup(kw)
    on = on_from(kw)
    dataset = load_data(data, kw.pop("calibration"), out / "model_float.keras", preset_data(out))
    result = stage.run(out, dataset, target, runtime, thresholds_from(kw), ClickReporter(), samples,
                       on, sensitivity)
    click.echo(f"wrote {out / 'parity.json'}; `gelu-edge report {out}` writes parity.md, "
               "parity.html and the plots")
    finish(result)


@cli.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
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
    from pipeline import report as stage

    finish(stage.run(folder or out, junit))


@cli.command()
@out_option
@data_option
@train_options
@approx_option
@quantize_option
@target_option
@runtime_option
@samples_option
@sensitivity_option
@on_options
@threshold_options
@junit_option
@loading_options
@click.option("--fine-tune-epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="After replacing GELU, fine-tune the float model this many epochs on the "
              "--data labels to win back the approximation error.")
def build(out: Path, data: Path | None, model: Path | None, preset: str, epochs: int | None,
          seed: int,
          approx: str, quantize: str | None, target: str, runtime: str | None, samples: int | None,
          sensitivity: int, junit: Path | None, **kw: Any) -> None:
    """Run every stage: train, approximate, convert, parity, report.

    Exit 0 when the model is built and within thresholds, 1 when a graph check or threshold
    failed (the report says which), 2 on bad input.

    \b
    Examples:
      gelu-edge build --quantize int8
      gelu-edge build --preset transformer --out build-transformer
      gelu-edge build --target coral --out build-coral
      gelu-edge build --approx sigmoid --target host --out build-host
      gelu-edge build --model my_model.keras --data my_data.npz --min-snr-db 25
      gelu-edge build --model my_model.keras --calibration images/ --target coral
      gelu-edge build --model my.keras --custom-objects my_layers.py --data d.npz --fine-tune-epochs 3
    """
    from pipeline import build as stage

    load_setup(kw)
    opts = stage.BuildOptions(
        out=out, data=data, model=model, calibration=kw.pop("calibration"),
        fine_tune_epochs=kw.pop("fine_tune_epochs"), approx=approx, quantize=quantize,
        target=target, runtime=runtime, preset=preset, epochs=epochs, seed=seed,
        samples=samples, on=on_from(kw), sensitivity=sensitivity, thresholds=thresholds_from(kw),
        junit=junit,
    )
    finish(stage.run(opts, ClickReporter()))
    click.echo(f"artifacts in {out}/")


