"""Run the device-side runner (`python -m edge`) in its own process and collect its outputs.

tflite_runtime must never share a process with tensorflow (it fails with std::bad_alloc), so
the host only ever talks to the runtime through a subprocess: on this machine, under QEMU, or
on a device over SSH (`pipeline.device.places`).
"""

from __future__ import annotations

import functools
import json
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np

from edge import exit_codes, runtimes
from pipeline.device.places import Place, Session
from pipeline.errors import CheckFailed, UserError
from pipeline.inputs import batch
from pipeline.progress import Quiet, Reporter
from pipeline.tempdirs import temporary_directory

DEFAULT_TIMEOUT_S = 600.0
LOCAL = Place()


def _is_marker(line: str) -> bool:
    """A runner's stage or custody line, not a message."""
    return line == exit_codes.SHA256_MATCHED or line.startswith(exit_codes.STAGE + " ")


def _last_error(lines: list[str]) -> str:
    errors = [ln.removeprefix("edge: error: ") for ln in lines if ln.startswith("edge: error:")]
    lines = [ln for ln in lines if not _is_marker(ln)]
    return errors[-1] if errors else (lines[-1] if lines else "")


# A shell (ssh) reports a child killed by signal N as exit 128 + N; these are the crashes.
CRASH_SIGNALS = (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE)


def _signal_of(returncode: int) -> str | None:
    """The name of the signal that killed the runner, or None if it exited."""
    number = -returncode if returncode < 0 else None
    if number is None and returncode - 128 in [int(s) for s in CRASH_SIGNALS]:
        number = returncode - 128
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _crash_message(name: str, lines: list[str], what: str) -> str:
    """What is known when a signal killed the runner: the signal, the step it was in, whether
    the model's sha256 matched what was sent; no guess at damage without evidence."""
    stages = [ln.split(" ", 1)[1] for ln in lines if ln.startswith(exit_codes.STAGE + " ")]
    step = exit_codes.STAGES.get(stages[-1], stages[-1]) if stages else None
    text = f"the runtime crashed {what}: the runner was killed by {name}"
    text += f" while {step}" if step else " before it reached the runtime"
    if exit_codes.SHA256_MATCHED in lines:
        text += "; the model's sha256 matched what the host sent, so the file arrived intact"
    message = _last_error(lines)
    if message and not message.startswith(("progress", "INFO:")):
        text += f"; its last words: {message}"
    return text + "; try another runtime (--runtime) to tell whether this one cannot run the model"


def _raise_for(session: Session, returncode: int, lines: list[str], what: str) -> None:
    """Map a runner's exit status to the pipeline's errors (nothing on success)."""
    if returncode == 0:
        return
    message = _last_error(lines)
    place_error = session.explain_failure(returncode, "\n".join(lines))
    if place_error:
        raise UserError(place_error)
    if returncode in (exit_codes.BAD_INPUT, exit_codes.RUNNER_MISSING, exit_codes.RUNNER_DELEGATE):
        where = "" if session.where == "local" else f" ({session.where})"
        raise UserError(f"{message}{where}")
    if returncode in (exit_codes.RUNNER_CANNOT_LOAD, exit_codes.RUNNER_DAMAGED):
        raise CheckFailed(message)
    killed = _signal_of(returncode)
    if killed is not None:
        raise CheckFailed(_crash_message(killed, lines, what))
    raise CheckFailed(f"the runner failed (exit {returncode}) {what}: "
                      f"{message or 'no message'}")


def model_args(session: Session, model: Path) -> list[str]:
    """--model as the place sees it, and its sha256: the runner refuses a copy that differs."""
    from pipeline.artifacts import sha256_file

    return ["--model", session.put(model), "--sha256", sha256_file(model)]


def _call(session: Session, args: list[str], timeout: float, what: str) -> dict[str, Any]:
    argv, env = session.command(args)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"the runner did not finish {what} within {timeout:.0f} s") from None
    _raise_for(session, proc.returncode, proc.stderr.strip().splitlines(), what)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def runtime_info(runtime: str, timeout: float = 60.0) -> dict[str, Any]:
    """`python -m edge info` for a runtime on this machine: name, version, machine, python
    (asked once per process and $GELU_EDGE_RUNTIMES setting); UserError if it is not
    installed."""
    return _runtime_info(runtime, os.environ.get(runtimes.ALLOW_ENV, ""), timeout)


@functools.cache
def _runtime_info(runtime: str, allowed: str, timeout: float) -> dict[str, Any]:
    with LOCAL.session(Quiet()) as session:
        return _call(session, ["info", "--runtime", runtime], timeout, "asking for info")


def load_check(model: Path, runtime: str, timeout: float = 120.0) -> tuple[bool, str]:
    """`python -m edge load` here: can the runtime load the model and invoke it once?
    (ok, message). A missing runtime is a UserError."""
    with LOCAL.session(Quiet()) as session:
        try:
            about = _call(session, ["load", *model_args(session, model), "--runtime", runtime],
                          timeout, f"loading {model}")
        except CheckFailed as exc:
            return False, str(exc)
    return True, f"loaded and invoked by {runtime} {about['version']} ({about['machine']})"


def bench(model: Path, runtime: str, repeats: int = 20, timeout: float = DEFAULT_TIMEOUT_S,
          max_seconds: float | None = None) -> dict[str, Any]:
    """`python -m edge bench` here: median and min ms of one invoke, one thread (fewer
    repeats once the timed invokes add up to `max_seconds`)."""
    cap = [] if max_seconds is None else ["--max-seconds", str(max_seconds)]
    with LOCAL.session(Quiet()) as session:
        return _call(session, ["bench", *model_args(session, model), "--runtime", runtime,
                               "--repeats", str(repeats), *cap], timeout,
                     f"benchmarking {model}")


def _stream(session: Session, args: list[str], total: int, label: str, reporter: Reporter,
            timeout: float, what: str) -> dict[str, Any]:
    """Start the runner, relay its progress lines, enforce the time-out, map its exit status."""
    return stream_many(session, [args], total, label, reporter, timeout, what)[0]


CANCEL_POLL_S = 0.2  # how often a waiting stream_many looks at its cancel event

def stream_many(session: Session, arg_lists: list[list[str]], total: int, label: str,
                reporter: Reporter, timeout: float, what: str,
                timeout_source: str = "--run-timeout",
                cancel: threading.Event | None = None) -> list[dict[str, Any]]:
    """Start one runner per argument list side by side, relay their summed progress on one bar,
    enforce the time-out on all, map their exit statuses; each one's JSON line, in order.
    Setting `cancel` (from another thread) stops every runner and raises CheckFailed."""
    events: queue.Queue[tuple[int, int | None]] = queue.Queue()
    others: list[list[str]] = [[] for _ in arg_lists]
    procs: list[subprocess.Popen[str]] = []
    timed_out = threading.Event()

    def read(i: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "progress":
                events.put((i, int(parts[1])))
            else:
                others[i].append(line.rstrip())
        events.put((i, None))

    def kill_all() -> None:
        timed_out.set()
        for proc in procs:
            proc.kill()

    stdouts = []
    with reporter.task(label, total) as advance:
        timer = threading.Timer(timeout, kill_all)
        try:
            for args in arg_lists:
                argv, env = session.command(args)
                procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True, env=env))
            timer.start()
            readers = [threading.Thread(target=read, args=(i, p), daemon=True)
                       for i, p in enumerate(procs)]
            for thread in readers:
                thread.start()
            done, finished = [0] * len(procs), 0
            while finished < len(procs):
                try:
                    i, value = events.get(timeout=CANCEL_POLL_S)
                except queue.Empty:
                    if cancel is not None and cancel.is_set():
                        raise CheckFailed(f"cancelled {what}") from None
                    continue
                if value is None:
                    finished += 1
                else:
                    advance(value - done[i])
                    done[i] = value
            for proc in procs:
                stdouts.append(proc.stdout.read() if proc.stdout else "")
                proc.wait()
        except BaseException:
            for proc in procs:
                proc.kill()
                proc.wait()
            raise
        finally:
            timer.cancel()
    if timed_out.is_set():
        raise CheckFailed(f"the runner did not finish {what} within {timeout:.0f} s "
                          f"({timeout_source})")
    for proc, other in zip(procs, others):
        _raise_for(session, proc.returncode, other, what)
    return [json.loads(out.strip().splitlines()[-1]) for out in stdouts]


def save_inputs(folder: Path, x: batch.Inputs) -> Path:
    """x.npy for one input, x.npz (x0, x1, ...) for several; integer inputs (token ids) stay
    integer, the runner casts each array to its input's type."""
    if isinstance(x, list):
        path = folder / "x.npz"
        np.savez(path, **{f"x{i}": _runner_dtype(a) for i, a in enumerate(x)})
    else:
        path = folder / "x.npy"
        np.save(path, _runner_dtype(x))
    return path


def _runner_dtype(a: np.ndarray) -> np.ndarray:
    return a if np.issubdtype(a.dtype, np.integer) else a.astype(np.float32, copy=False)


def run(model: Path, x: batch.Inputs, runtime: str, reporter: Reporter,
        timeout: float = DEFAULT_TIMEOUT_S, place: Place = LOCAL, delegate: str | None = None
        ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run `model` on every sample of `x` where `place` says; return (arrays, runtime info).
    The info has the runner's own fields plus the place's (`where`, `cpu`, ...)."""
    with temporary_directory("run") as tmp, \
            place.session(reporter) as session:
        x_path, y_path = save_inputs(Path(tmp), x), Path(tmp) / "y.npz"
        remote_y = session.output_path("y.npz")
        args = ["run", *model_args(session, model), "--input", session.put(x_path),
                "--output", remote_y, "--runtime", runtime]
        if delegate:
            args += ["--delegate", delegate]
        label = f"running on {runtime}" + ("" if session.where == "local" else f" ({place.name})")
        about = _stream(session, args, batch.count(x), label, reporter, timeout,
                        f"running {model} on {place.name}")
        session.fetch(remote_y, y_path)
        with np.load(y_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        about.update(session.describe())
        return arrays, about


def stage_chain(session: Session, manifest: Path, folder: Path) -> str:
    """segments.json and its segment files where the session's runner sees them: each file
    put there, and a copy of the manifest (written into `folder`, which must outlive the run)
    naming them by the paths the place gave."""
    chain = json.loads(Path(manifest).read_text(encoding="utf-8"))
    for segment in chain["segments"]:
        segment["file"] = session.put(Path(manifest).parent / segment["file"])
    staged = Path(folder) / Path(manifest).name
    staged.write_text(json.dumps(chain), encoding="utf-8")
    return session.put(staged)


def chain(manifest: Path, x: batch.Inputs, runtime: str, reporter: Reporter,
          timeout: float = DEFAULT_TIMEOUT_S, place: Place = LOCAL) -> dict[str, np.ndarray]:
    """Run a chain of segment models (segments.json and the files beside it) where `place`
    says on every sample of `x`: the arrays `run` gives for one model."""
    with temporary_directory("chain") as tmp, place.session(reporter) as session:
        x_path, y_path = save_inputs(Path(tmp), x), Path(tmp) / "y.npz"
        remote_y = session.output_path("chain-y.npz")
        args = ["chain", "--manifest", stage_chain(session, manifest, Path(tmp)), "--input",
                session.put(x_path), "--output", remote_y, "--runtime", runtime]
        where = "" if session.where == "local" else f" ({place.name})"
        _stream(session, args, batch.count(x), f"running the segments on {runtime}{where}",
                reporter, timeout, f"running the chain {manifest} on {place.name}")
        session.fetch(remote_y, y_path)
        with np.load(y_path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}


def tensors(model: Path, x: batch.Inputs, runtime: str, indices: list[int], reporter: Reporter,
            timeout: float = DEFAULT_TIMEOUT_S) -> dict[int, np.ndarray]:
    """Intermediate tensors (by index) of every sample, dequantized, from the runtime here."""
    with temporary_directory("tensors") as tmp, \
            LOCAL.session(reporter) as session:
        x_path, t_path = save_inputs(Path(tmp), x), Path(tmp) / "t.npz"
        args = ["tensors", *model_args(session, model), "--input", session.put(x_path),
                "--output", str(t_path), "--indices", ",".join(map(str, indices)),
                "--runtime", runtime]
        _stream(session, args, batch.count(x), f"per-layer tensors on {runtime}", reporter,
                timeout,
                f"saving the tensors of {model}")
        with np.load(t_path, allow_pickle=False) as npz:
            return {int(k[1:]): npz[k] for k in npz.files}


def histograms(model: Path, x: batch.Inputs, runtime: str, ranges: dict[int, tuple[float, float]],
               bins: int, reporter: Reporter, timeout: float = DEFAULT_TIMEOUT_S
               ) -> dict[int, np.ndarray]:
    """Histograms (`bins` equal bins over each tensor's range) of intermediate tensors over
    every sample, counted in the runtime's own process: tensor index -> counts."""
    with temporary_directory("hist") as tmp, \
            LOCAL.session(reporter) as session:
        x_path, h_path, r_path = save_inputs(Path(tmp), x), Path(tmp) / "h.npz", Path(tmp) / "r.npz"
        index = np.array(sorted(ranges), np.int64)
        np.savez(r_path, index=index, low=np.array([ranges[i][0] for i in index], np.float64),
                 high=np.array([ranges[i][1] for i in index], np.float64))
        args = ["histograms", *model_args(session, model), "--input", session.put(x_path),
                "--ranges", str(r_path), "--output", str(h_path), "--bins", str(bins),
                "--runtime", runtime]
        _stream(session, args, batch.count(x), f"tensor statistics on {runtime}", reporter,
                timeout, f"counting the tensors of {model}")
        with np.load(h_path, allow_pickle=False) as npz:
            return {int(k[1:]): npz[k] for k in npz.files}
