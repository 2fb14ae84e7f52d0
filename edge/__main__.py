"""`python -m edge`: the device-side runner.

  python -m edge info [--runtime NAME]
  python -m edge run --model M.tflite --input X.npy --output Y.npz [--runtime NAME] [--threads N]
      [--deadline S]
  python -m edge bench --model M.tflite [--runtime NAME] [--repeats N] [--threads N]
      [--max-seconds S]
  python -m edge probe --model M.tflite [--runtime NAME] [--repeats N]
  python -m edge load --model M.tflite [--runtime NAME]
  python -m edge tensors --model M.tflite --input X.npy --output T.npz --indices 3,5
      [--runtime NAME]
  python -m edge histograms --model M.tflite --input X.npy --ranges R.npz --output H.npz [--bins N]
  python -m edge trace --model M.tflite --input X.npy --output T.npz --indices 3,5|@FILE
      [--kernels optimized|reference]
  python -m edge chain --manifest segments.json --input X.npy --output Y.npz [--runtime NAME]
      [--delegate LIB.so] [--compiled DIR]
  python -m edge verify DIR

`run` prints progress lines (`progress DONE TOTAL`) on stderr and one JSON line with the runtime
info on stdout. `load` loads the model and invokes it once on zeros. `histograms` counts the
values of the tensors R.npz names (index, low, high) in equal bins over every sample. `tensors`
saves the given tensors (intermediate ones too) of every sample, dequantized. `run --deadline S`
stops starting samples S seconds after the runner started and saves those it ran. `probe` times
a few invokes (JSON: load_s, invoke_s, cpus). `trace` runs the first sample with every tensor
kept and saves the given ones raw (int8 codes), on the optimized or the reference kernels; its
JSON lists the tensors that share a buffer (ops run in place). `--delegate LIB.so` (run, load)
loads an external delegate such as the Edge TPU's. Exit codes: 0 ok, 2 bad arguments or input
file, 3 the runtime could not load the model, 4 numpy or the runtime is not installed, 5 the
delegate could not be loaded, 6 the model is not the one the host sent (--sha256 differs), 1
(verify) the build folder does not match its custody ledger. `verify` needs the standard library
only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NamedTuple, NoReturn

from edge import kernels, runtimes  # names only; the runtimes are imported on demand
from edge.exit_codes import BAD_INPUT as EXIT_BAD_INPUT
from edge.exit_codes import CHECK_FAILED as EXIT_VERIFY_FAILED
from edge.exit_codes import RUNNER_CANNOT_LOAD as EXIT_LOAD
from edge.exit_codes import RUNNER_DAMAGED as EXIT_DAMAGED
from edge.exit_codes import RUNNER_DELEGATE as EXIT_DELEGATE
from edge.exit_codes import RUNNER_MISSING as EXIT_MISSING
from edge.exit_codes import SHA256_MATCHED

# --deadline counts from here: after the standard library and edge's own light modules, which
# load in milliseconds; numpy and the runtime come later, inside the deadline
STARTED = time.monotonic()

PROGRESS_EVERY = 50
RUNTIME_CHOICES = sorted(runtimes.RUNTIMES)
Arguments = Callable[[argparse.ArgumentParser], None]


class Command(NamedTuple):
    """One `python -m edge` command: its help, its arguments, what it does and what it needs
    first (`stdlib`: nothing; `runtime`: numpy and the runtime, whose info it gets; `model`: those
    and --model, checked against --sha256)."""

    help: str
    arguments: Arguments
    run: Callable[[argparse.Namespace, dict[str, Any]], None]
    needs: str = "model"


def _fail(code: int, message: str) -> NoReturn:
    print(f"edge: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def _progress(done: int, total: int) -> None:
    if done == total or done % PROGRESS_EVERY == 0:
        print(f"progress {done} {total}", file=sys.stderr, flush=True)


def _save_npz(path: str, **arrays: object) -> None:
    import numpy as np

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _indices(value: str) -> list[int]:
    """--indices: comma-separated integers, or @FILE holding them (for graphs with thousands)."""
    try:
        if value.startswith("@"):
            with open(value[1:], encoding="ascii") as f:
                value = f.read().strip()
        return [int(i) for i in value.split(",")]
    except (OSError, ValueError):
        _fail(EXIT_BAD_INPUT, f"--indices takes integers or @FILE, got {value[:80]!r}")


def _inputs(path: str) -> Any:
    """The samples of an .npy (one array) or .npz (x0, x1, ...: a list, one per model input)."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            return [loaded[f"x{i}"] for i in range(len(loaded.files))]
    except (OSError, ValueError, KeyError) as exc:
        _fail(EXIT_BAD_INPUT, f"cannot read inputs {path}: {exc}")


def _args(*specs: tuple[str, dict[str, Any]]) -> Arguments:
    """A command's arguments from (flag, argparse keywords) pairs."""
    def add(parser: argparse.ArgumentParser) -> None:
        for flag, kw in specs:
            parser.add_argument(flag, **kw)
    return add


MODEL = ("--model", {"required": True})
RUNTIME = ("--runtime", {"choices": RUNTIME_CHOICES, "default": runtimes.DEFAULT})
DELEGATE = ("--delegate", {"default": None, "help": "external delegate library"})


def _required(flag: str, help: str) -> tuple[str, dict[str, Any]]:
    return flag, {"required": True, "help": help}


def _verify(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge import custody

    found = custody.problems(args.folder)
    for problem in found:
        print(f"{args.folder}: {problem}", file=sys.stderr)
    if found:
        sys.exit(EXIT_VERIFY_FAILED)
    print(f"{args.folder}: every file matches {custody.LEDGER}")


def _info(args: argparse.Namespace, about: dict[str, Any]) -> None:
    print(json.dumps(about))


def _load(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge.runner import smoke_test

    smoke_test(args.model, args.runtime, args.delegate)
    print(json.dumps(about))


def _bench(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge.bench import median_invoke_ms

    print(json.dumps(median_invoke_ms(args.model, args.runtime, args.repeats,
                                      num_threads=args.threads, max_seconds=args.max_seconds)))


def _probe(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge.bench import probe

    print(json.dumps({**about, **probe(args.model, args.runtime, args.repeats)}))


def _histograms(args: argparse.Namespace, about: dict[str, Any]) -> None:
    import numpy as np

    from edge.stats import tensor_histograms

    x = _inputs(args.input)
    with np.load(args.ranges, allow_pickle=False) as r:
        index, low, high = r["index"], r["low"], r["high"]
    _save_npz(args.output, **tensor_histograms(
        args.model, x, args.runtime, [int(i) for i in index], low, high, args.bins, _progress))
    print(json.dumps(about), flush=True)


def _tensors(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge.runner import dump_tensors

    x = _inputs(args.input)
    indices = _indices(args.indices)
    _save_npz(args.output, **dump_tensors(args.model, x, args.runtime, indices, _progress))
    print(json.dumps(about), flush=True)


def _trace(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge.trace import trace

    x = _inputs(args.input)
    found, shared = trace(args.model, x if isinstance(x, list) else [x], args.runtime,
                          _indices(args.indices), args.kernels)
    _save_npz(args.output, **found)
    print(json.dumps({**about, "kernels": args.kernels, "aliases": shared}), flush=True)


def _run(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge.runner import run_model

    x = _inputs(args.input)
    deadline = None if args.deadline is None else STARTED + args.deadline
    result = run_model(args.model, x, args.runtime, args.threads, _progress, args.delegate,
                       deadline)
    _save_npz(args.output, **{k: v for k, v in result.items() if k.startswith("y")})
    about.update({k: result[k] for k in ("input_quantization", "output_quantization",
                                          "outputs_quantization", "outputs", "samples")})
    print(json.dumps(about), flush=True)


def _chain(args: argparse.Namespace, about: dict[str, Any]) -> None:
    from edge.chain import read_manifest, run_chain
    from edge.runner import DelegateError, ModelLoadError

    try:
        manifest = read_manifest(args.manifest, args.compiled)
        result = run_chain(manifest, _inputs(args.input), args.runtime, args.threads,
                           args.delegate, _progress)
    except ModelLoadError as exc:
        _fail(EXIT_LOAD, f"{args.runtime} {about['version']} cannot run the chain "
              f"{args.manifest}: {exc}")
    except DelegateError as exc:
        _fail(EXIT_DELEGATE, str(exc))
    except ValueError as exc:
        _fail(EXIT_BAD_INPUT, str(exc))
    _save_npz(args.output, **{k: v for k, v in result.items() if k.startswith("y")})
    about.update({k: result[k] for k in ("output_quantization", "outputs_quantization",
                                          "outputs", "samples")})
    about["segments"] = len(manifest["segments"])
    print(json.dumps(about), flush=True)


COMMANDS: dict[str, Command] = {
    "info": Command("print the runtime, CPU architecture and Python version", _args(RUNTIME),
                    _info, needs="runtime"),
    "run": Command("run a model on every sample of an .npy file", _args(
        MODEL,
        _required("--input", ".npy, samples on axis 0, float (.npz with x0, x1, ... for a "
                  "model with several inputs)"),
        _required("--output", ".npz to write (y, y_raw)"),
        RUNTIME,
        ("--threads", {"type": int, "default": None}),
        DELEGATE,
        ("--deadline", {"type": float, "default": None,
                        "help": "seconds after start: start no sample after it, save those run"}),
    ), _run),
    "bench": Command("median latency of one invoke, in ms (JSON)", _args(
        MODEL, RUNTIME, ("--repeats", {"type": int, "default": 20}),
        ("--threads", {"type": int, "default": 1}),
        ("--max-seconds", {"type": float, "default": None,
                           "help": "stop timing once the invokes add up to this"})), _bench),
    "load": Command("load the model and invoke it once on zeros", _args(MODEL, RUNTIME, DELEGATE),
                    _load),
    "tensors": Command("save intermediate tensors of every sample", _args(
        MODEL,
        _required("--input", ".npy, samples on axis 0, float"),
        _required("--output", ".npz to write (t<index>)"),
        _required("--indices", "tensor indices, comma-separated"),
        RUNTIME), _tensors),
    "histograms": Command("histograms of intermediate tensors", _args(
        MODEL,
        _required("--input", ".npy (or .npz x0, x1, ...) samples"),
        _required("--ranges", ".npz with index, low, high arrays"),
        _required("--output", ".npz to write (h<index>)"),
        ("--bins", {"type": int, "default": 2048}),
        RUNTIME), _histograms),
    "probe": Command("seconds to load and per invoke, CPUs (JSON)", _args(
        MODEL, RUNTIME, ("--repeats", {"type": int, "default": 3})), _probe),
    "trace": Command("one sample, every given tensor kept, raw", _args(
        MODEL,
        _required("--input", ".npy (or .npz x0, x1, ...); the first sample runs"),
        _required("--output", ".npz to write (t<index>, y<i>)"),
        _required("--indices", "tensor indices, comma-separated, or @FILE holding them"),
        ("--kernels", {"choices": kernels.KERNELS, "default": kernels.OPTIMIZED}),
        RUNTIME), _trace),
    "chain": Command("run a chain of segment models (segments.json) on every sample", _args(
        _required("--manifest", "segments.json; the segment files beside it"),
        _required("--input", ".npy (or .npz x0, x1, ...), samples on axis 0, float"),
        _required("--output", ".npz to write (y, y_raw)"),
        RUNTIME,
        ("--threads", {"type": int, "default": None}),
        ("--delegate", {"default": None,
                        "help": "external delegate for the accelerator segments"}),
        ("--compiled", {"default": None,
                        "help": "edgetpu_compiler's output folder: run its NAME_edgetpu.tflite "
                                "for each accelerator segment"}),
    ), _chain, needs="runtime"),
    "verify": Command("check a build folder against its custody ledger",
                      _args(("folder", {})), _verify, needs="stdlib"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=command.help)
        command.arguments(sub_parser)
        if command.needs == "model":
            sub_parser.add_argument("--sha256", default=None,
                                    help="refuse the model unless its sha256 is this")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m edge`."""
    args = _parser().parse_args(argv)
    command = COMMANDS[args.command]
    if command.needs == "stdlib":
        command.run(args, {})
        return
    try:
        import numpy  # noqa: F401  (checked here: every command but verify needs it)
    except ImportError:
        _fail(EXIT_MISSING, "numpy is not installed for this Python "
              f"({sys.executable}); install it with `pip install 'numpy<2'`")
    from edge.runner import DelegateError, ModelLoadError, runtime_info

    try:
        about = runtime_info(args.runtime)
    except runtimes.RuntimeMissing as exc:
        _fail(EXIT_MISSING, str(exc))
    if command.needs == "runtime":
        command.run(args, about)
        return
    if not os.path.isfile(args.model):
        _fail(EXIT_BAD_INPUT, f"model {args.model} not found")
    if args.sha256:
        from edge.custody import sha256_file

        if sha256_file(args.model) != args.sha256:
            _fail(EXIT_DAMAGED, f"{args.model} is not the model that was sent: its sha256 "
                  "differs (damaged on the way?); it was not run")
        print(SHA256_MATCHED, file=sys.stderr, flush=True)
    try:
        command.run(args, about)
    except ModelLoadError as exc:
        _fail(EXIT_LOAD, f"{args.runtime} {about['version']} cannot run {args.model}: {exc}")
    except DelegateError as exc:
        _fail(EXIT_DELEGATE, str(exc))
    except ValueError as exc:
        _fail(EXIT_BAD_INPUT, str(exc))


if __name__ == "__main__":
    main()
