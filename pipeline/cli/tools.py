"""Commands around the pipeline: check, targets, target setup, approximations, diff."""

from __future__ import annotations

from pathlib import Path

import click

from edge import runtimes
from pipeline import approximations, targets
from pipeline.cli.group import cli
from pipeline.cli.options import EDGE_RUNTIMES, ClickReporter, parse_range, parse_shape
from pipeline.errors import CheckFailed, UserError
from pipeline.targets import runtime_choice


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True,
              help=f"One of: {', '.join(targets.names())} (or ethos-u:CONFIG).")
@click.option("--runtime", type=click.Choice(EDGE_RUNTIMES), default=None,
              help="The runtime the device has [default: the target's]; rpi with "
              "tflite-runtime checks against tflite-runtime 2.14.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--compiler-log", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="coral: what `edgetpu_compiler -s` printed for MODEL (or, with MODEL a "
              "build's segments.json, for its Edge TPU segments): its op mapping and parameter "
              "memory are matched against the static verdicts.")
def check(model: Path, target: str, runtime: str | None, as_json: bool,
          compiler_log: Path | None) -> None:
    """Check MODEL.tflite against a target: per-op verdict and reason, model rules, summary.

    Exit 0 when fully compatible, 1 when not, 2 on bad input. With --compiler-log: exit 0 when
    the compiler mapped every op the static check put on the Edge TPU, 1 when not.

    \b
    Examples:
      gelu-edge check build/model.tflite --target coral
      gelu-edge check model.tflite --target ethos-u:ethos-u65-256 --json
      gelu-edge check build/segments.json --target coral --compiler-log compile.log
    """

    from pipeline.check import against_compiler_log, check_model, render

    if compiler_log is not None:
        if targets.get(target).name != "coral":
            raise UserError("--compiler-log is edgetpu_compiler's log: use it with --target "
                             "coral")
        findings = against_compiler_log(model, compiler_log)
        for finding in findings:
            click.echo(f"{finding.model}: {'agrees' if finding.agrees else 'DISAGREES'}")
            for line in finding.lines:
                click.echo(f"  {line}")
        wrong = [f.model for f in findings if not f.agrees]
        if wrong:
            raise CheckFailed(f"edgetpu_compiler did not map what the static check put on the "
                              f"Edge TPU in {len(wrong)} model(s) (first: {wrong[0]})")
        return
    if model.suffix == ".json":
        raise UserError(f"{model}: a segments.json is checked with --compiler-log; check the "
                         "segment files themselves otherwise")
    compat = check_model(model, target, runtime)
    click.echo(compat.model_dump_json(indent=2) if as_json else render(compat))
    if not compat.compatible:
        raise CheckFailed(f"{model} is not compatible with target {compat.target} (see above)")


@cli.group("target")
def target_group() -> None:
    """Set up places to run parity on (see --on)."""


@target_group.command("setup")
@click.argument("name", type=click.Choice(["emulated-pi"]), metavar="NAME")
@click.option("--force", is_flag=True, help="Set up again even if the cache verifies.")
def target_setup(name: str, force: bool) -> None:
    """Set up the emulated Raspberry Pi (Debian bookworm arm64 Python 3.11, tflite-runtime 2.14,
    ai-edge-litert 2.3, numpy 1.x, under QEMU 10 from Debian trixie) in the user's cache folder;
    verified by sha256 on every use.

    \b
    Examples:
      gelu-edge target setup emulated-pi
    """
    from pipeline.device.places import emulated_setup

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


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def verify(folder: Path) -> None:
    """Check that every file of a build folder is what the stage that wrote it left (its
    sha256 in custody.json). Exit 0 when it is, 1 when not. On a device with only Python:
    `python -m edge verify FOLDER`.

    \b
    Examples:
      gelu-edge verify build
    """
    from edge import custody
    from pipeline.errors import UserError

    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    found = custody.problems(str(folder))
    for problem in found:
        click.echo(f"{folder}: {problem}")
    if found:
        raise CheckFailed(f"{folder} does not match its ledger ({len(found)} problem(s)); run "
                          "the stage that wrote each file again, or gelu-edge build")
    click.echo(f"{folder}: every file matches {custody.LEDGER}")


@cli.command("rewrites")
def rewrites_cmd() -> None:
    """List the graph rewrites (--rewrites), what each does and the int8 ops it lowers to.

    \b
    Examples:
      gelu-edge rewrites
      gelu-edge build --model m.keras --data d.npz --rewrites all,-attention-mask
    """
    from pipeline import rewrites

    click.echo("gelu: GELU replaced by --approx (auto: chosen for the target); the "
               "approximation's ops ('gelu-edge approximations')")
    for rewrite in rewrites.REWRITES.values():
        click.echo(f"{rewrite.name}: {rewrite.summary}")
        click.echo(f"  int8 ops: {', '.join(sorted(rewrite.int8_ops))}")


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

    from pipeline.stages.report import diff as stage

    result = stage.compare(old, new)
    click.echo(json.dumps(result, indent=2) if as_json else stage.render(result))
    if result["worse"]:
        raise CheckFailed(f"{new} is worse than {old}")



@cli.command("approximations")
@click.option("--range", "int8_range", default="-8,8", show_default=True,
              help="Input range LO,HI the int8 single-op models are calibrated for.")
@click.option("--float-range", default="-4,4", show_default=True,
              help="Range LO,HI of the float error against exact GELU.")
@click.option("--shape", default="1,128,3072", show_default=True,
              help="Tensor shape for the latency measurement.")
@click.option("--no-latency", is_flag=True, help="Skip the latency measurement.")
@click.option("--runtime", type=click.Choice(EDGE_RUNTIMES), default=None,
              help="Runtime for the int8 error measurement [default: tflite-runtime, or "
                   "litert where tflite-runtime is not installed].")
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

    from pipeline.approximations.measure import measure_all, to_json

    lo_hi = parse_range(int8_range, "--range")
    float_lo_hi = parse_range(float_range, "--float-range")
    dims = None if no_latency else parse_shape(shape)
    names = list(only) or approximations.names()
    for name in names:
        approximations.get(name)
    runtime = runtime_choice.choose(runtimes.DEFAULT, runtime).name
    results = measure_all(names, float_lo_hi, lo_hi, dims, runtime, ClickReporter(), export)
    if as_json:
        click.echo(json.dumps(to_json(results), indent=2))
        return
    from pipeline.approximations.table import render

    click.echo(render(results, float_lo_hi, lo_hi, runtime, dims))


