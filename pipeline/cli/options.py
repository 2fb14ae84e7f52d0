"""Shared pieces of the command line: the terminal reporter, option decorators, and the helpers
that turn options into the stages' inputs."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from edge.runtimes import RUNTIMES
from pipeline import approximations, presets, rewrites, targets
from pipeline.device import places
from pipeline.errors import CheckFailed, UserError
from pipeline.gate.thresholds import (
    DEFAULT_MAX_ERROR_LSB,
    DEFAULT_MIN_COSINE,
    DEFAULT_MIN_SNR_DB,
    DEFAULT_MIN_TOP1_AGREEMENT,
    Thresholds,
)
from pipeline.progress import Advance
from pipeline.tflite import quantize_modes, ranges

EDGE_RUNTIMES = tuple(RUNTIMES)
PHASE_TICK_S = 15.0  # how often a long step without a count says it is still running


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

    @contextlib.contextmanager
    def phase(self, label: str) -> Iterator[None]:
        click.echo(f"  {label} ...", err=True)
        start = time.monotonic()
        done = threading.Event()

        def tick() -> None:
            while not done.wait(PHASE_TICK_S):
                click.echo(f"  {label}: still running ({time.monotonic() - start:.0f} s)",
                           err=True)

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
        click.echo(f"  {label}: {time.monotonic() - start:.1f} s", err=True)


def writes_out(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A command that writes into --out: the folders it writes, the temporary folder and the
    place it runs on are checked first, so a refused run leaves the folder untouched; it holds
    the folder's lock while it runs (--wait waits for another gelu-edge there instead of
    stopping), with a temporary folder of its own."""
    import functools

    @click.option("--wait", is_flag=True, help="If another gelu-edge is writing into --out, "
                  "wait for it instead of stopping.")
    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        from pipeline import preflight, runstate, tempdirs
        from pipeline.lock import holding

        wait = kwargs.pop("wait")
        out = kwargs.get("folder") or kwargs.get("out")
        runstate.begin(out, fn.__name__)
        preflight.writable_folder(out, "--out")
        preflight.nothing_foreign(out)
        if kwargs.get("junit") is not None:
            preflight.writable_file(kwargs["junit"], "--junit")
        preflight.temp_folder()
        if "on" in kwargs:  # --on answers, a local --delegate loads: before the lock is taken
            preflight.place(on_from(dict(kwargs)))
        with holding(out, wait), tempdirs.private():
            return fn(*args, **kwargs)
    return command


def compose(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(fn: Any) -> Any:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn
    return apply


class FolderPath(click.Path):
    """A folder to write into; an empty name (an unset variable in a script) is refused rather
    than taken as the current folder."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty (an unset variable?): name the build folder, e.g. build",
                      param, ctx)
        return super().convert(value, param, ctx)


out_option = click.option("--out", type=FolderPath(), default=Path("build"), show_default=True,
                          help="Build folder.")
data_option = compose(
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
rewrites_option = click.option(
    "--rewrites", default="all", show_default=True,
    help=f"Graph rewrites to apply: all, none, a list of {', '.join(rewrites.names())} "
    "(gelu,layer-norm) or all minus some (all,-attention-mask); see 'gelu-edge rewrites'.")
calibration_method_option = click.option(
    "--calibration-method", default=ranges.DEFAULT, show_default=True,
    help=f"How int8 ranges are chosen per tensor: {', '.join(ranges.METHODS)} (percentile:P "
    f"for another percentile), or {ranges.AUTO} (the best of them on held-back calibration "
    "samples).")
recover_option = click.option(
    "--recover", is_flag=True,
    help="If the int8 model misses the gate: on a CPU target keep the fewest layers in float "
    "that pass it; on an accelerator try every calibration method (it stays integer).")
integer_only_option = click.option(
    "--integer-only", is_flag=True,
    help="Every op int8, on a CPU target too. By default a CPU target's int8 model with layer "
    "norm, softmax or attention runs its matrix ops in int8 (int8 weights and "
    "multiply-accumulates, float in and out) and the rest in float; accelerator targets are "
    "always integer-only.")
attention_option = click.option(
    "--attention", type=click.Choice(["auto", "int8", "float"]), default="auto",
    show_default=True,
    help="A transformer on a CPU target: attention's activation x activation matmuls in int8 "
    "(one scale per tensor or per head, the more accurate) or float; auto keeps int8 unless "
    "it loses more than 3 dB of output SNR on the calibration samples. The report gives the "
    "figures (accuracy and time) either way.")
max_segments_option = click.option(
    "--max-segments", type=click.IntRange(min=1), default=None,
    help="coral: at most this many segments in the chain (Edge TPU and host in turn); fewer "
    "segments, fewer transfers between host and Edge TPU, less work on the Edge TPU "
    "[default: as many as the model's ops need].")
host_float_option = click.option(
    "--host-float", is_flag=True, default=False,
    help="coral: the host segments compute in float (the ops the Edge TPU lacks, layer norms, "
    "residual adds); the Edge TPU segments stay int8. More accurate transformers, more "
    "segments and transfers.")
int16_norms_option = click.option(
    "--int16-norms", is_flag=True, default=False,
    help="With --integer-only on a CPU target: layer norms and residual adds carry int16 "
    "activations, every other op int8 (matrix ops too); no float op. More accurate "
    "all-integer transformers, slower than int8; needs LiteRT's int16 kernels.")
plan_option = click.option(
    "--plan", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Apply this quant_plan.json (what a build decided: placement, ranges, float layers, "
    "recipe) instead of deciding again: the same model.tflite from the same model and data.")
quantize_option = click.option("--quantize", type=click.Choice(quantize_modes.names()),
                               default=None, help="Quantization mode [default: the target's; "
                               "int8 for every target].")
target_option = click.option("--target", default=targets.DEFAULT, show_default=True,
                             help=f"Deployment target: {', '.join(targets.names())} "
                             "(or ethos-u:CONFIG); see 'gelu-edge targets'.")
runtime_option = click.option("--runtime", type=click.Choice(EDGE_RUNTIMES), default=None,
                              help="The runtime the model is for, and parity runs on "
                              "[default: the target's].")
sensitivity_option = click.option(
    "--sensitivity", type=click.IntRange(min=0), default=0, show_default=True,
    help="For the N worst layers, measure the end-to-end SNR with that layer kept in float.")
samples_option = click.option("--samples", type=click.IntRange(min=1), default=None,
                              help="Evaluate only the first N eval samples [default: all; off "
                              "this machine, as many as --device-budget affords].")
on_options = compose(
    click.option("--on", "on", default=places.LOCAL, show_default=True,
                 help=f"Where the runtime runs: {places.describe()}."),
    click.option("--delegate", default=None,
                 help="External delegate library for the runner, e.g. libedgetpu.so.1."),
    click.option("--ssh-config", type=click.Path(dir_okay=False), default=None,
                 help="ssh_config file for --on ssh:// (keys, known_hosts)."),
    click.option("--remote-python", default="python3", show_default=True,
                 help="Python on the device for --on ssh://."),
    click.option("--run-timeout", type=click.FloatRange(min=1), default=600, show_default=True,
                 help="Seconds the runner may take."),
    click.option("--compare-samples", type=click.IntRange(min=1), default=None,
                 help="Off this machine: inputs run on both the device and here to compare "
                 "their int8 outputs [default: as many as --device-budget affords, at most "
                 "4096]."),
    click.option("--device-budget", default=f"{places.DEFAULT_DEVICE_BUDGET_S / 60:g}m",
                 show_default=True,
                 help="Off this machine: time for the device part of parity (timing probes, "
                 "the runs there and here, localising a difference), e.g. 300, 90s, 10m, 1h; "
                 "it sets the sample counts that --samples and --compare-samples do not."),
)
threshold_options = compose(
    click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
                 default=None, help="TOML file with a [tool.gelu-edge.thresholds] table "
                 "(./pyproject.toml's is read too; flags win)."),
    click.option("--min-snr-db", type=float, default=None,
                 help=f"Fail if the quantized output's SNR against float is lower "
                 f"[default: {DEFAULT_MIN_SNR_DB:g}]."),
    click.option("--max-error-lsb", type=float, default=None,
                 help=f"Fail if any output differs from float by more LSBs, in int8 output "
                 f"steps (an int16 output's limit is 256 times as many of its own steps) "
                 f"[default: {DEFAULT_MAX_ERROR_LSB:g}]."),
    click.option("--min-cosine", type=float, default=None,
                 help=f"Fail if the cosine similarity to float is lower "
                 f"[default: {DEFAULT_MIN_COSINE:g}]."),
    click.option("--min-sample-cosine", type=float, default=None,
                 help="Embeddings: fail if the mean per-sample cosine to float is lower "
                 "[default: not enforced]."),
    click.option("--min-neighbour-agreement", type=float, default=None,
                 help="Embeddings: fail if fewer samples keep their nearest neighbour among the "
                 "evaluated ones [default: not enforced]."),
    click.option("--min-top1-agreement", type=float, default=None,
                 help="Classification: fail if fewer samples keep their class "
                 f"[default: {DEFAULT_MIN_TOP1_AGREEMENT:g}]."),
)
junit_option = click.option("--junit", "junit", type=click.Path(dir_okay=False, path_type=Path),
                            default=None, help="Also write the gate as JUnit XML to this file.")
loading_options = compose(
    click.option("--custom-objects", "custom_objects",
                 type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Python file to import first: it registers your custom layers and "
                 "functions (keras.saving.register_keras_serializable)."),
    click.option("--unsafe", is_flag=True,
                 help="Load models that hold Python code (Lambda layers). Only for files you "
                 "trust."),
)
train_options = compose(
    click.option("--model", type=click.Path(path_type=Path), default=None,
                 help="Your trained Keras model (.keras or .h5); default: train --preset."),
    click.option("--preset", default=presets.DEFAULT, show_default=True,
                 help="Built-in model to train when there is no --model: "
                 f"{'; '.join(f'{p.name} ({p.summary})' for p in presets.PRESETS.values())}."),
    click.option("--epochs", type=click.IntRange(min=1), default=None,
                 help="Training epochs for the preset [default: the preset's, 40]."),
    click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
)


def preset_data(out: Path) -> Path | None:
    """The data of the preset OUT's model was trained as (None for a user's model)."""
    from pipeline import presets
    from pipeline.records import TrainRecord

    if not (out / TrainRecord.FILE).is_file():
        return presets.get(presets.DEFAULT).data
    trained = TrainRecord.load(out)
    return presets.get(trained.preset).data if trained.preset else None


def load_data(path: Path | None, calibration: Path | None, model: Any | None,
              default: Path | None, fine_tune: bool = False) -> Any:
    """Load --data/--calibration (`default`, a preset's data, when neither is given) for an
    already opened `model` (its inputs' shapes and types). Prints data warnings."""
    from pipeline.inputs.data import load_for_model

    if path is None and calibration is None:
        path = default
    data = load_for_model(path, calibration, model, fine_tune)
    for warning in data.warnings:
        ClickReporter().warn(warning)
    return data


def stage_context(out: Path, kw: dict[str, Any], model: str | None = "reference",
                  fine_tune: bool = False) -> Any:
    """A context on OUT for a stage run alone: the model it works on (`reference`: the float
    model, `replaced`: the approximated one), opened once, and the data read for its inputs."""
    from pipeline.context import Context

    ctx = Context(out=out)
    opened = getattr(ctx, model)() if model else None
    ctx.data = load_data(kw.pop("data"), kw.pop("calibration"), opened, preset_data(out),
                         fine_tune)
    return ctx


def check_quantize(target_name: str, quantize: str | None) -> str:
    """The quantization mode: --quantize, else the target's default; one the target runs."""
    from pipeline.build import quantize_mode

    return quantize_mode(target_name, quantize)


def load_setup(kw: dict[str, Any]) -> None:
    from pipeline.inputs.models import configure

    configure(unsafe=kw.pop("unsafe"), custom_objects=kw.pop("custom_objects"))


def on_from(kw: dict[str, Any]) -> Any:
    from pipeline.device.budget import parse_duration
    from pipeline.device.places import OnOptions

    return OnOptions(on=kw.pop("on"), delegate=kw.pop("delegate"),
                     ssh_config=kw.pop("ssh_config"), remote_python=kw.pop("remote_python"),
                     run_timeout=kw.pop("run_timeout"), compare_samples=kw.pop("compare_samples"),
                     device_budget_s=parse_duration(kw.pop("device_budget")))


def thresholds_from(kw: dict[str, Any]) -> Thresholds:
    from pipeline.gate.thresholds import NAMES, resolve

    return resolve({name: kw[name] for name in NAMES}, kw["config"])


def finish(parity: Any) -> None:
    """Print the summary; exit 1 (CheckFailed) unless the gate passed."""
    from pipeline.stages.report import summary

    click.echo(summary(parity))
    if not parity.passed:
        raise CheckFailed("parity gate failed; see parity.md for which threshold or check")


def parse_range(value: str, flag: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise UserError(f"{flag} takes LO,HI (two numbers), got {value!r}") from None
    if not lo < hi:
        raise UserError(f"{flag} {value}: LO must be less than HI")
    return lo, hi


def parse_shape(value: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in value.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise UserError(f"--shape takes positive integers separated by commas, got {value!r}")
    return dims


