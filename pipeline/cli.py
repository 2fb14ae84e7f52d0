"""The `gelu-edge` command line: thin Click commands over the stage modules.

Exit codes: 0 built and within thresholds, 1 a graph check / runtime load / threshold failed,
2 bad usage or bad input (one line, no traceback), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from pipeline import approximations, quantize_modes, targets
from pipeline.errors import CheckFailed, UserError
from pipeline.progress import Advance
from pipeline.thresholds import (
    DEFAULT_MAX_ERROR_LSB,
    DEFAULT_MIN_COSINE,
    DEFAULT_MIN_SNR_DB,
    DEFAULT_MIN_TOP1_AGREEMENT,
    Thresholds,
)

EDGE_RUNTIMES = ("tflite-runtime", "litert")


class ClickReporter:
    """Progress bars and messages on stderr."""

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Advance]:
        with click.progressbar(length=max(total, 1), label=f"  {label}", file=sys.stderr,
                               show_pos=True) as bar:
            yield bar.update

    def info(self, message: str) -> None:
        click.echo(message, err=True)

    def warn(self, message: str) -> None:
        click.secho(f"warning: {message}", fg="yellow", err=True)


def _compose(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(fn: Any) -> Any:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn
    return apply


out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                          default=Path("build"), show_default=True, help="Build folder.")
data_option = _compose(
    click.option("--data", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Evaluation (and fine-tuning) data: .npz with x and y, or the demo's "
                 "x_train/y_train/x_eval/y_eval/x_calib splits. [default: the demo data "
                 "without --model; none with it]"),
    click.option("--calibration", type=click.Path(path_type=Path), default=None,
                 help="Calibration samples: .npy, .npz, .csv, or a folder of .npy files or "
                 "PNG/JPEG images. [default: x_calib, or x, of --data]"),
)
approx_option = click.option(
    "--approx", default="auto", show_default=True,
    help=f"GELU replacement: auto (the most accurate variant the target accepts at an acceptable "
    f"cost), {', '.join(approximations.names())}, or pwl:N.")
quantize_option = click.option("--quantize", type=click.Choice(list(quantize_modes.MODES)),
                               default=None, help="Quantization mode [default: the target's; "
                               "int8 for every target].")
target_option = click.option("--target", default=targets.DEFAULT, show_default=True,
                             help=f"Deployment target: {', '.join(targets.names())} "
                             "(or ethos-u:CONFIG); see 'gelu-edge targets'.")
runtime_option = click.option("--runtime", type=click.Choice(EDGE_RUNTIMES), default=None,
                              help="Runtime for parity [default: the target's].")
sensitivity_option = click.option(
    "--sensitivity", type=click.IntRange(min=0), default=0, show_default=True,
    help="For the N worst layers, measure the end-to-end SNR with that layer kept in float.")
samples_option = click.option("--samples", type=click.IntRange(min=1), default=None,
                              help="Evaluate only the first N eval samples [default: all].")
on_options = _compose(
    click.option("--on", "on", default="local", show_default=True,
                 help="Where the runtime runs: local, emulated-pi (Pi 4, Cortex-A72 under QEMU), "
                 "emulated-pi5 (Cortex-A76) or ssh://user@host[:port] (a real device)."),
    click.option("--delegate", default=None,
                 help="External delegate library for the runner, e.g. libedgetpu.so.1."),
    click.option("--ssh-config", type=click.Path(dir_okay=False), default=None,
                 help="ssh_config file for --on ssh:// (keys, known_hosts)."),
    click.option("--remote-python", default="python3", show_default=True,
                 help="Python on the device for --on ssh://."),
    click.option("--run-timeout", type=click.FloatRange(min=1), default=600, show_default=True,
                 help="Seconds the runner may take."),
    click.option("--compare-samples", type=click.IntRange(min=1), default=4096,
                 show_default=True, help="Off this machine: inputs run on both the device and "
                 "here to compare their int8 outputs."),
)
threshold_options = _compose(
    click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
                 default=None, help="TOML file with a [tool.gelu-edge.thresholds] table "
                 "(./pyproject.toml's is read too; flags win)."),
    click.option("--min-snr-db", type=float, default=None,
                 help=f"Fail if the quantized output's SNR against float is lower "
                 f"[default: {DEFAULT_MIN_SNR_DB:g}]."),
    click.option("--max-error-lsb", type=float, default=None,
                 help=f"Fail if any output differs from float by more LSBs "
                 f"[default: {DEFAULT_MAX_ERROR_LSB:g}]."),
    click.option("--min-cosine", type=float, default=None,
                 help=f"Fail if the cosine similarity to float is lower "
                 f"[default: {DEFAULT_MIN_COSINE:g}]."),
    click.option("--min-top1-agreement", type=float, default=None,
                 help="Classification: fail if fewer samples keep their class "
                 f"[default: {DEFAULT_MIN_TOP1_AGREEMENT:g}]."),
)
junit_option = click.option("--junit", "junit", type=click.Path(dir_okay=False, path_type=Path),
                            default=None, help="Also write the gate as JUnit XML to this file.")
loading_options = _compose(
    click.option("--custom-objects", "custom_objects",
                 type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Python file to import first: it registers your custom layers and "
                 "functions (keras.saving.register_keras_serializable)."),
    click.option("--unsafe", is_flag=True,
                 help="Load models that hold Python code (Lambda layers). Only for files you "
                 "trust."),
)
train_options = _compose(
    click.option("--model", type=click.Path(path_type=Path), default=None,
                 help="Your trained Keras model (.keras or .h5); default: train --preset."),
    click.option("--preset", default="demo", show_default=True,
                 help="Built-in model to train when there is no --model: demo (MLP, "
                 "regression) or transformer (encoder classifier on the 8x8 digits)."),
    click.option("--epochs", type=click.IntRange(min=1), default=None,
                 help="Training epochs for the preset [default: the preset's, 40]."),
    click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
)


def _preset_data(out: Path) -> Path | None:
    """The data of the preset OUT's model was trained as (None for a user's model)."""
    from pipeline import presets
    from pipeline.artifacts import TRAIN_RECORD, read_json

    record = out / TRAIN_RECORD
    source = read_json(record).get("source") if record.is_file() else "demo"
    if source == "demo":
        return presets.get(presets.DEFAULT).data
    if source.startswith("preset:"):
        return presets.get(source.split(":", 1)[1]).data
    return None


def _data(path: Path | None, calibration: Path | None, model: Path | None,
          default: Path | None, fine_tune: bool = False) -> Any:
    """Load --data/--calibration (`default`, a preset's data, when neither is given);
    `model` gives the input shape calibration samples are read into. Prints data warnings."""
    from pipeline.data import load_dataset

    shape = None
    if model is not None and model.exists():
        from pipeline.models import input_shape, load_model

        shape = tuple(input_shape(load_model(model))[1:])
    if path is None and calibration is None:
        path = default
    data = load_dataset(path, calibration, shape, fine_tune)
    for warning in data.warnings:
        ClickReporter().warn(warning)
    return data


def _load_setup(kw: dict[str, Any]) -> None:
    from pipeline.models import configure

    configure(unsafe=kw.pop("unsafe"), custom_objects=kw.pop("custom_objects"))


def _on(kw: dict[str, Any]) -> Any:
    from pipeline.places import OnOptions

    return OnOptions(on=kw.pop("on"), delegate=kw.pop("delegate"),
                     ssh_config=kw.pop("ssh_config"), remote_python=kw.pop("remote_python"),
                     run_timeout=kw.pop("run_timeout"), compare_samples=kw.pop("compare_samples"))


def _thresholds(kw: dict[str, Any]) -> Thresholds:
    from pipeline.thresholds import NAMES, resolve

    return resolve({name: kw[name] for name in NAMES}, kw["config"])


def _finish(parity: dict[str, Any]) -> None:
    from pipeline.report import summary

    click.echo(summary(parity))
    if not parity["passed"]:
        raise CheckFailed("parity gate failed; see parity.md for which threshold or check")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gelu-edge")
def cli() -> None:
    """Ship GELU models to a Raspberry Pi or Coral in int8, and know they still give the right answers.

    \b
    Examples:
      gelu-edge build --quantize int8
      gelu-edge build --approx sigmoid --runtime litert --out build-sigmoid
      gelu-edge train --out build && gelu-edge approximate --out build --approx sigmoid
    """


@cli.command()
@out_option
@data_option
@train_options
@loading_options
def train(out: Path, data: Path | None, model: Path | None, preset: str, epochs: int | None,
          seed: int, **kw: Any) -> None:
    """Train the demo GELU model (or take --model) and save OUT/model_float.keras.

    \b
    Examples:
      gelu-edge train --out build
      gelu-edge train --model my_model.keras --data my_data.npz
    """
    from pipeline import train as stage

    from pipeline import presets

    _load_setup(kw)
    default = presets.get(preset).data if model is None else None
    dataset = _data(data, kw.pop("calibration"), model, default)
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
    from pipeline.approx_auto import resolve
    from pipeline.artifacts import MODEL_FLOAT, require

    _load_setup(kw)
    reporter = ClickReporter()
    model = require(out, MODEL_FLOAT, "train")
    name = resolve(out, approx, target, runtime, reporter)
    stage.run(out, model, name, _data(data, kw.pop("calibration"), model, _preset_data(out)).x_eval,
              reporter)
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

    _load_setup(kw)
    approx = read_json(require(out, APPROX_RECORD, "approximate"))["approx"]
    model = require(out, MODEL_APPROX, "approximate")
    result = stage.run(out, model, quantize or "int8", approx,
                       _data(data, kw.pop("calibration"), model, _preset_data(out)).x_calib,
                       ClickReporter())
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
    from pipeline import parity as stage

    _load_setup(kw)
    on = _on(kw)
    dataset = _data(data, kw.pop("calibration"), out / "model_float.keras", _preset_data(out))
    result = stage.run(out, dataset, target, runtime, _thresholds(kw), ClickReporter(), samples,
                       on, sensitivity)
    _finish(result)


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

    _finish(stage.run(folder or out, junit))


@cli.command()
@click.argument("old", type=click.Path(file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def diff(old: Path, new: Path, as_json: bool) -> None:
    """Compare two builds' parity: exit 1 if NEW is worse than OLD beyond the tolerances.

    \b
    Examples:
      gelu-edge diff build-main build
    """
    import json

    from pipeline.report import diff as stage

    result = stage.compare(old, new)
    click.echo(json.dumps(result, indent=2) if as_json else stage.render(result))
    if result["worse"]:
        raise CheckFailed(f"{new} is worse than {old}")


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

    _load_setup(kw)
    opts = stage.BuildOptions(
        out=out, data=data, model=model, calibration=kw.pop("calibration"),
        fine_tune_epochs=kw.pop("fine_tune_epochs"), approx=approx, quantize=quantize,
        target=target, runtime=runtime, preset=preset, epochs=epochs, seed=seed,
        samples=samples, on=_on(kw), sensitivity=sensitivity, thresholds=_thresholds(kw),
        junit=junit,
    )
    _finish(stage.run(opts, ClickReporter()))
    click.echo(f"artifacts in {out}/")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True,
              help=f"One of: {', '.join(targets.names())} (or ethos-u:CONFIG).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def check(model: Path, target: str, as_json: bool) -> None:
    """Check MODEL.tflite against a target: per-op verdict and reason, model rules, summary.

    Exit 0 when fully compatible, 1 when not, 2 on bad input.

    \b
    Examples:
      gelu-edge check build/model.tflite --target coral
      gelu-edge check model.tflite --target ethos-u:ethos-u65-256 --json
    """
    import json

    from pipeline.check import check_model, render

    compat = check_model(model, target)
    click.echo(json.dumps(compat.to_json(), indent=2) if as_json else render(compat))
    if not compat.compatible:
        raise CheckFailed(f"{model} is not compatible with target {compat.target} (see above)")


@cli.group("target")
def target_group() -> None:
    """Set up places to run parity on (see --on)."""


@target_group.command("setup")
@click.argument("name", type=click.Choice(["emulated-pi"]))
@click.option("--force", is_flag=True, help="Set up again even if the cache verifies.")
def target_setup(name: str, force: bool) -> None:
    """Set up the emulated Raspberry Pi (Debian bookworm arm64 Python 3.11, tflite-runtime 2.14,
    numpy 1.x, under QEMU) in the user's cache folder; verified by sha256 on every use.

    \b
    Examples:
      gelu-edge target setup emulated-pi
    """
    from pipeline.places import emulated_setup

    root = emulated_setup.setup(ClickReporter(), force=force)
    click.echo(f"emulated-pi ready in {root.path}")


@cli.command("targets")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def targets_cmd(as_json: bool) -> None:
    """List the deployment targets with their runtime and rules.

    \b
    Examples:
      gelu-edge targets
    """
    import json

    rows = [{"name": t.name, "summary": t.summary, "runtime": t.runtime, "machine": t.machine,
             "default_quantize": t.default_quantize, "quantize_modes": list(t.quantize_modes),
             "accelerator": t.accelerator, "rules": list(t.rules)}
            for t in targets.TARGETS.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']}: {row['summary']}")
        click.echo(f"  runtime {row['runtime']} ({row['machine']}); --quantize "
                   f"{'/'.join(row['quantize_modes'])}, default {row['default_quantize']}")
        for rule in row["rules"]:
            click.echo(f"  - {rule}")


def _parse_range(value: str, flag: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise UserError(f"{flag} takes LO,HI (two numbers), got {value!r}") from None
    if not lo < hi:
        raise UserError(f"{flag} {value}: LO must be less than HI")
    return lo, hi


def _parse_shape(value: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in value.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise UserError(f"--shape takes positive integers separated by commas, got {value!r}")
    return dims


@cli.command("approximations")
@click.option("--range", "int8_range", default="-8,8", show_default=True,
              help="Input range LO,HI the int8 single-op models are calibrated for.")
@click.option("--float-range", default="-4,4", show_default=True,
              help="Range LO,HI of the float error against exact GELU.")
@click.option("--shape", default="1,128,3072", show_default=True,
              help="Tensor shape for the latency measurement.")
@click.option("--no-latency", is_flag=True, help="Skip the latency measurement.")
@click.option("--runtime", type=click.Choice(EDGE_RUNTIMES), default="tflite-runtime",
              show_default=True, help="Runtime for the int8 error measurement.")
@click.option("--only", multiple=True, help="Measure only these variants (repeatable).")
@click.option("--export", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write each variant's single-op model as DIR/gelu_<name>_int8.tflite.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def approximations_cmd(int8_range: str, float_range: str, shape: str, no_latency: bool,
                       runtime: str, only: tuple[str, ...], export: Path | None,
                       as_json: bool) -> None:
    """Measure every GELU approximation: float error, int8 error over all 256 input codes,
    the input range the int8 model really covers, ops, targets, and latency per runtime.

    \b
    Examples:
      gelu-edge approximations
      gelu-edge approximations --range -6,6 --no-latency --json
      gelu-edge approximations --only relu-corr --only lut --export models/
    """
    import json

    from pipeline.approx_measure import measure_all, to_json

    lo_hi = _parse_range(int8_range, "--range")
    float_lo_hi = _parse_range(float_range, "--float-range")
    dims = None if no_latency else _parse_shape(shape)
    names = list(only) or approximations.names()
    for name in names:
        approximations.get(name)
    results = measure_all(names, float_lo_hi, lo_hi, dims, runtime, ClickReporter(), export)
    if as_json:
        click.echo(json.dumps(to_json(results), indent=2))
        return
    from pipeline.approx_table import render

    click.echo(render(results, float_lo_hi, lo_hi, runtime, dims))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: map errors to exit codes without tracebacks."""
    try:
        cli.main(args=argv, prog_name="gelu-edge", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (try 'gelu-edge {exc.ctx.info_name} --help')" if exc.ctx and exc.ctx.parent else ""
        click.echo(f"gelu-edge: error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"gelu-edge: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except UserError as exc:
        click.echo(f"gelu-edge: error: {exc}", err=True)
        sys.exit(2)
    except CheckFailed as exc:
        click.echo(f"gelu-edge: failed: {exc}", err=True)
        sys.exit(1)
    except (KeyboardInterrupt, click.Abort):
        click.echo("gelu-edge: interrupted; finished artifacts are complete, nothing half-written",
                   err=True)
        sys.exit(130)
    sys.exit(0)
