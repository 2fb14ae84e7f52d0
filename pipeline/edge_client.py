"""Run the device-side runner (`python -m edge`) in its own process and collect its outputs.

tflite_runtime must never share a process with tensorflow (it fails with std::bad_alloc), so
the host only ever talks to the runtime through this subprocess.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import CheckFailed, UserError
from pipeline.progress import Reporter

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT, EXIT_LOAD, EXIT_MISSING = 2, 3, 4
DEFAULT_TIMEOUT_S = 600.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@functools.lru_cache(maxsize=None)
def runtime_info(runtime: str, timeout: float = 60.0) -> dict[str, Any]:
    """`python -m edge info` for a runtime: name, version, machine, python (asked once per
    process)."""
    proc = subprocess.run([sys.executable, "-m", "edge", "info", "--runtime", runtime],
                          capture_output=True, text=True, env=_env(), timeout=timeout)
    if proc.returncode != 0:
        raise UserError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
                        else f"runtime {runtime} is not usable here")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load_check(model: Path, runtime: str, timeout: float = 120.0) -> tuple[bool, str]:
    """`python -m edge load`: can the runtime load the model and invoke it once? (ok, message).
    A missing runtime is a UserError; a crash of the runner counts as not loadable."""
    try:
        proc = subprocess.run([sys.executable, "-m", "edge", "load", "--model", str(model),
                               "--runtime", runtime], capture_output=True, text=True, env=_env(),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"{runtime} did not load the model within {timeout:.0f} s"
    lines = proc.stderr.strip().splitlines()
    errors = [ln.removeprefix("edge: error: ") for ln in lines if ln.startswith("edge: error:")]
    if proc.returncode == 0:
        about = json.loads(proc.stdout.strip().splitlines()[-1])
        return True, f"loaded and invoked by {runtime} {about['version']} ({about['machine']})"
    if proc.returncode in (EXIT_BAD_INPUT, EXIT_MISSING):
        raise UserError(errors[-1] if errors else f"runtime {runtime} is not usable here")
    if proc.returncode == EXIT_LOAD and errors:
        return False, errors[-1]
    return False, f"the {runtime} runner crashed (exit {proc.returncode}) loading {model}"


def bench(model: Path, runtime: str, repeats: int = 20, timeout: float = DEFAULT_TIMEOUT_S
          ) -> dict[str, Any]:
    """`python -m edge bench`: median and min ms of one invoke, one thread."""
    proc = subprocess.run([sys.executable, "-m", "edge", "bench", "--model", str(model),
                           "--runtime", runtime, "--repeats", str(repeats)],
                          capture_output=True, text=True, env=_env(), timeout=timeout)
    if proc.returncode != 0:
        raise UserError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
                        else f"benchmark on {runtime} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(model: Path, x: np.ndarray, runtime: str, reporter: Reporter,
        timeout: float = DEFAULT_TIMEOUT_S) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run `model` on every sample of `x` in a separate process; return (arrays, runtime info)."""
    with tempfile.TemporaryDirectory(prefix="gelu-edge-run-") as tmp:
        x_path, y_path = Path(tmp) / "x.npy", Path(tmp) / "y.npz"
        np.save(x_path, x.astype(np.float32))
        cmd = [sys.executable, "-m", "edge", "run", "--model", str(model), "--input", str(x_path),
               "--output", str(y_path), "--runtime", runtime]
        other: list[str] = []
        with reporter.task(f"parity on {runtime}", len(x)) as advance:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=_env())
            done = 0
            timed_out = threading.Event()

            def _kill() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(timeout, _kill)
            timer.start()
            try:
                assert proc.stderr is not None
                for line in proc.stderr:
                    parts = line.split()
                    if len(parts) == 3 and parts[0] == "progress":
                        advance(int(parts[1]) - done)
                        done = int(parts[1])
                    else:
                        other.append(line.rstrip())
                stdout = proc.stdout.read() if proc.stdout else ""
                proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                timer.cancel()
        if timed_out.is_set():
            raise CheckFailed(f"the {runtime} runner did not finish within {timeout:.0f} s")
        errors = [ln for ln in other if ln.startswith("edge: error:")]
        message = errors[-1].removeprefix("edge: error: ") if errors else (other[-1] if other else "")
        if proc.returncode == EXIT_LOAD:
            raise CheckFailed(message)
        if proc.returncode in (EXIT_BAD_INPUT, EXIT_MISSING):
            raise UserError(message)
        if proc.returncode != 0:
            raise CheckFailed(
                f"the {runtime} runner crashed (exit {proc.returncode}) on {model}: "
                f"{message or 'no message'}; the model may be damaged"
            )
        with np.load(y_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return arrays, json.loads(stdout.strip().splitlines()[-1])
