"""`python -m edge`: the device-side runner.

  python -m edge info [--runtime NAME]
  python -m edge run --model M.tflite --input X.npy --output Y.npz [--runtime NAME] [--threads N]
      [--deadline S]
  python -m edge bench --model M.tflite [--runtime NAME] [--repeats N] [--threads N]
  python -m edge probe --model M.tflite [--runtime NAME] [--repeats N]
  python -m edge load --model M.tflite [--runtime NAME]
  python -m edge tensors --model M.tflite --input X.npy --output T.npz --indices 3,5 [--runtime NAME]
  python -m edge histograms --model M.tflite --input X.npy --ranges R.npz --output H.npz [--bins N]
  python -m edge trace --model M.tflite --input X.npy --output T.npz --indices 3,5|@FILE
      [--kernels optimized|reference]
  python -m edge verify DIR

`run` prints progress lines (`progress DONE TOTAL`) on stderr and one JSON line with the runtime
info on stdout. `load` loads the model and invokes it once on zeros. `histograms` counts the values of the tensors R.npz names (index, low, high) in
equal bins over every sample. `tensors` saves the given tensors
(intermediate ones too) of every sample, dequantized. `run --deadline S` stops starting
samples S seconds after the runner started and saves those it ran. `probe` times a few invokes
(JSON: load_s, invoke_s, cpus). `trace` runs the first sample with every tensor kept and saves
the given ones raw (int8 codes), on the optimized or the reference kernels; its JSON lists the
tensors that share a buffer (ops run in place). `--delegate LIB.so` (run,
load) loads an external delegate such as the Edge TPU's. Exit codes: 0 ok, 2 bad arguments or
input file, 3 the runtime could not load the model, 4 numpy or the runtime is not installed,
5 the delegate could not be loaded, 6 the model is not the one the host sent (--sha256 differs),
1 (verify) the build folder does not match its custody ledger. `verify` needs the standard library
only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import NoReturn

STARTED = time.monotonic()  # --deadline counts from here

from edge import kernels, runtimes  # names only; the runtimes are imported on demand
from edge.exit_codes import BAD_INPUT as EXIT_BAD_INPUT
from edge.exit_codes import RUNNER_CANNOT_LOAD as EXIT_LOAD
from edge.exit_codes import RUNNER_DELEGATE as EXIT_DELEGATE
from edge.exit_codes import CHECK_FAILED as EXIT_VERIFY_FAILED
from edge.exit_codes import RUNNER_DAMAGED as EXIT_DAMAGED
from edge.exit_codes import RUNNER_MISSING as EXIT_MISSING
from edge.exit_codes import SHA256_MATCHED

PROGRESS_EVERY = 50
RUNTIME_CHOICES = sorted(runtimes.RUNTIMES)


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print the runtime, CPU architecture and Python version")
    info.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    run = sub.add_parser("run", help="run a model on every sample of an .npy file")
    run.add_argument("--model", required=True)
    run.add_argument("--input", required=True, help=".npy, samples on axis 0, float (.npz with "
                     "x0, x1, ... for a model with several inputs)")
    run.add_argument("--output", required=True, help=".npz to write (y, y_raw)")
    run.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    run.add_argument("--threads", type=int, default=None)
    run.add_argument("--delegate", default=None, help="external delegate library")
    run.add_argument("--deadline", type=float, default=None,
                     help="seconds after start: start no sample after it, save those run")
    bench = sub.add_parser("bench", help="median latency of one invoke, in ms (JSON)")
    bench.add_argument("--model", required=True)
    bench.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    bench.add_argument("--repeats", type=int, default=20)
    bench.add_argument("--threads", type=int, default=1)
    load = sub.add_parser("load", help="load the model and invoke it once on zeros")
    load.add_argument("--model", required=True)
    load.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    load.add_argument("--delegate", default=None, help="external delegate library")
    tensors = sub.add_parser("tensors", help="save intermediate tensors of every sample")
    tensors.add_argument("--model", required=True)
    tensors.add_argument("--input", required=True, help=".npy, samples on axis 0, float")
    tensors.add_argument("--output", required=True, help=".npz to write (t<index>)")
    tensors.add_argument("--indices", required=True, help="tensor indices, comma-separated")
    tensors.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    hist = sub.add_parser("histograms", help="histograms of intermediate tensors")
    hist.add_argument("--model", required=True)
    hist.add_argument("--input", required=True, help=".npy (or .npz x0, x1, ...) samples")
    hist.add_argument("--ranges", required=True, help=".npz with index, low, high arrays")
    hist.add_argument("--output", required=True, help=".npz to write (h<index>)")
    hist.add_argument("--bins", type=int, default=2048)
    hist.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    probe = sub.add_parser("probe", help="seconds to load and per invoke, CPUs (JSON)")
    probe.add_argument("--model", required=True)
    probe.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    probe.add_argument("--repeats", type=int, default=3)
    trace = sub.add_parser("trace", help="one sample, every given tensor kept, raw")
    trace.add_argument("--model", required=True)
    trace.add_argument("--input", required=True, help=".npy (or .npz x0, x1, ...); the first "
                       "sample runs")
    trace.add_argument("--output", required=True, help=".npz to write (t<index>, y<i>)")
    trace.add_argument("--indices", required=True, help="tensor indices, comma-separated, or "
                       "@FILE holding them")
    trace.add_argument("--kernels", choices=kernels.KERNELS, default=kernels.OPTIMIZED)
    trace.add_argument("--runtime", choices=RUNTIME_CHOICES, default="tflite-runtime")
    for sub_parser in (run, bench, load, tensors, hist, probe, trace):
        sub_parser.add_argument("--sha256", default=None,
                                help="refuse the model unless its sha256 is this")
    verify = sub.add_parser("verify", help="check a build folder against its custody ledger")
    verify.add_argument("folder")
    return parser


def _indices(value: str) -> list[int]:
    """--indices: comma-separated integers, or @FILE holding them (for graphs with thousands)."""
    try:
        if value.startswith("@"):
            with open(value[1:], encoding="ascii") as f:
                value = f.read().strip()
        return [int(i) for i in value.split(",")]
    except (OSError, ValueError):
        _fail(EXIT_BAD_INPUT, f"--indices takes integers or @FILE, got {value[:80]!r}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m edge`."""
    args = _parser().parse_args(argv)
    if args.command == "verify":
        from edge import custody

        found = custody.problems(args.folder)
        for problem in found:
            print(f"{args.folder}: {problem}", file=sys.stderr)
        if found:
            sys.exit(EXIT_VERIFY_FAILED)
        print(f"{args.folder}: every file matches {custody.LEDGER}")
        return
    try:
        import numpy as np
    except ImportError:
        _fail(EXIT_MISSING, "numpy is not installed for this Python "
              f"({sys.executable}); install it with `pip install 'numpy<2'`")
    from edge.bench import median_invoke_ms, probe
    from edge.runner import (
        DelegateError,
        ModelLoadError,
        dump_tensors,
        run_model,
        runtime_info,
        smoke_test,
    )

    try:
        about = runtime_info(args.runtime)
    except runtimes.RuntimeMissing as exc:
        _fail(EXIT_MISSING, str(exc))
    if args.command == "info":
        print(json.dumps(about))
        return
    if not os.path.isfile(args.model):
        _fail(EXIT_BAD_INPUT, f"model {args.model} not found")
    if args.sha256:
        from edge.custody import sha256_file

        if sha256_file(args.model) != args.sha256:
            _fail(EXIT_DAMAGED, f"{args.model} is not the model that was sent: its sha256 "
                  "differs (damaged on the way?); it was not run")
        print(SHA256_MATCHED, file=sys.stderr, flush=True)
    cannot = f"{args.runtime} {about['version']} cannot run {args.model}"
    try:
        if args.command == "load":
            smoke_test(args.model, args.runtime, args.delegate)
            print(json.dumps(about))
            return
        if args.command == "bench":
            print(json.dumps(median_invoke_ms(args.model, args.runtime, args.repeats,
                                              num_threads=args.threads)))
            return
        if args.command == "probe":
            print(json.dumps({**about, **probe(args.model, args.runtime, args.repeats)}))
            return
        try:
            loaded = np.load(args.input, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                x = loaded
            else:
                with loaded:
                    x = [loaded[f"x{i}"] for i in range(len(loaded.files))]
        except (OSError, ValueError, KeyError) as exc:
            _fail(EXIT_BAD_INPUT, f"cannot read inputs {args.input}: {exc}")
        if args.command == "histograms":
            from edge.stats import tensor_histograms

            with np.load(args.ranges, allow_pickle=False) as r:
                index, low, high = r["index"], r["low"], r["high"]
            _save_npz(args.output, **tensor_histograms(
                args.model, x, args.runtime, [int(i) for i in index], low, high, args.bins,
                _progress))
            print(json.dumps(about), flush=True)
            return
        if args.command == "tensors":
            indices = _indices(args.indices)
            _save_npz(args.output, **dump_tensors(args.model, x, args.runtime, indices, _progress))
            print(json.dumps(about), flush=True)
            return
        if args.command == "trace":
            from edge.trace import trace

            found, shared = trace(args.model, x if isinstance(x, list) else [x], args.runtime,
                                  _indices(args.indices), args.kernels)
            _save_npz(args.output, **found)
            print(json.dumps({**about, "kernels": args.kernels, "aliases": shared}), flush=True)
            return
        deadline = None if args.deadline is None else STARTED + args.deadline
        result = run_model(args.model, x, args.runtime, args.threads, _progress, args.delegate,
                           deadline)
    except ModelLoadError as exc:
        _fail(EXIT_LOAD, f"{cannot}: {exc}")
    except DelegateError as exc:
        _fail(EXIT_DELEGATE, str(exc))
    except ValueError as exc:
        _fail(EXIT_BAD_INPUT, str(exc))
    _save_npz(args.output, **{k: v for k, v in result.items() if k.startswith("y")})
    about.update({k: result[k] for k in ("input_quantization", "output_quantization",
                                          "outputs_quantization", "outputs", "samples")})
    print(json.dumps(about), flush=True)


if __name__ == "__main__":
    main()
