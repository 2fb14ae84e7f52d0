"""Run a TFLite model sample by sample: quantize inputs, invoke, dequantize outputs."""

from __future__ import annotations

import platform
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edge import runtimes
from edge.exit_codes import STAGE
from edge.kernels import OPTIMIZED, REFERENCE


def runtime_words(exc: BaseException | str) -> str:
    """A runtime's message on one line. TFLite's error reporter runs its messages together
    ("gather index out of boundsNode number 4 (GATHER) failed to invoke."): separate them."""
    text = " ".join(str(exc).split())
    text = re.sub(r"(?<=\.)(?=Node number \d)", " ", text)
    return re.sub(r"(?<=[^\s.;])(?=Node number \d)", "; ", text)


class ModelLoadError(Exception):
    """The runtime could not load, prepare or run the model (unknown op, op version, a kernel
    that does not support the tensor type, a bad file)."""


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if not np.issubdtype(dtype, np.integer) or scale == 0:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if not np.issubdtype(y.dtype, np.integer) or scale == 0:
        return y.astype(np.float32)
    return ((y.astype(np.float64) - zero_point) * scale).astype(np.float32)


def runtime_info(runtime: str) -> dict[str, str]:
    """Where this runner runs: runtime name and version, CPU architecture, Python version."""
    _, version = runtimes.load(runtime)
    return {"name": runtime, "version": version, "machine": platform.machine(),
            "python": platform.python_version()}


def stage(name: str) -> None:
    """Tell the host (stderr) which step runs now: a crash in the runtime kills the process
    without a word, and the host then says which step it was."""
    print(f"{STAGE} {name}", file=sys.stderr, flush=True)


class DelegateError(Exception):
    """The external delegate could not be loaded."""


def open_interpreter(model_path: str, runtime: str, num_threads: int | None = None,
                     delegate: str | None = None, preserve_all_tensors: bool = False,
                     kernels: str = OPTIMIZED) -> Any:
    """Load and prepare a model on a runtime, with an optional external delegate (a shared
    library path); ModelLoadError with the runtime's words if it cannot.

    `kernels`: the runtime's optimized kernels (NEON on aarch64, SSE/AVX on x86_64, what a
    user's program runs), or its reference kernels (plain C++, the same source everywhere).
    Keeping every tensor turns the default delegate (XNNPACK) off, not the optimized kernels."""
    interpreter_cls, _ = runtimes.load(runtime)
    resolver = ({"experimental_op_resolver_type": runtimes.RUNTIMES[runtime].reference_kernels()}
                if kernels == REFERENCE else {})
    delegates = None
    if delegate:
        try:
            delegates = [runtimes.RUNTIMES[runtime].load_delegate(delegate)]
        except (OSError, ValueError, RuntimeError) as exc:
            raise DelegateError(f"cannot load delegate {delegate}: "
                                f"{runtime_words(exc)}") from None
    try:
        stage("loading")
        interpreter = interpreter_cls(model_path=model_path, num_threads=num_threads,
                                      experimental_delegates=delegates,
                                      experimental_preserve_all_tensors=preserve_all_tensors,
                                      **resolver)
        stage("allocating")
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(runtime_words(exc)) from None
    return interpreter


def smoke_test(model_path: str, runtime: str, delegate: str | None = None) -> None:
    """Load the model and invoke it once on zeros: ModelLoadError if the runtime cannot (an op
    or op version it does not register, a kernel that rejects the tensor types)."""
    interpreter = open_interpreter(model_path, runtime, delegate=delegate)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    stage("invoking")
    try:
        interpreter.invoke()
    except RuntimeError as exc:
        raise ModelLoadError(runtime_words(exc)) from None


def _each_sample(interpreter: Any, xs: list[np.ndarray],
                 progress: Callable[[int, int], None] | None,
                 deadline: float | None = None) -> Iterator[None]:
    """Set each batch (the model's batch size) of every input, invoke, yield; report progress
    after each. `xs` has one array per model input, in the model's input order. Stops early,
    between invokes, once time.monotonic() passes `deadline` (after one batch at least)."""
    details = interpreter.get_input_details()
    if len(xs) != len(details):
        raise ValueError(f"{len(xs)} input arrays for a model with {len(details)} inputs")
    batch = int(details[0]["shape"][0])
    for x, inp in zip(xs, details):
        if x.shape[1:] != tuple(inp["shape"][1:]):
            raise ValueError(f"inputs have sample shape {x.shape[1:]}, the model wants "
                             f"{tuple(inp['shape'][1:])}")
    n = (len(xs[0]) // batch) * batch
    for start in range(0, n, batch):
        if deadline is not None and start > 0 and time.monotonic() > deadline:
            return
        for x, inp in zip(xs, details):
            interpreter.set_tensor(inp["index"], _quantize(x[start:start + batch], inp))
        if start == 0:
            stage("invoking")
        try:
            interpreter.invoke()
        except RuntimeError as exc:
            raise ModelLoadError(runtime_words(exc)) from None
        yield
        if progress is not None:
            progress(start + batch, n)


def run_model(model_path: str, x: np.ndarray | list[np.ndarray], runtime: str,
              num_threads: int | None = None,
              progress: Callable[[int, int], None] | None = None,
              delegate: str | None = None, deadline: float | None = None) -> dict[str, Any]:
    """Run every sample of `x` (samples on axis 0; a list with one array per input for a
    model with several) through the model at its batch size; with a `deadline`
    (time.monotonic()), only the samples that started before it.

    Returns per output `y<i>` (dequantized to float32) and `y_raw<i>` (as the model produced
    them), `y`/`y_raw` for the first output, and the quantization parameters.
    """
    interpreter = open_interpreter(model_path, runtime, num_threads, delegate)
    xs = x if isinstance(x, list) else [x]
    inp = interpreter.get_input_details()[0]
    outs = interpreter.get_output_details()
    raw: list[list[np.ndarray]] = [[] for _ in outs]
    for _ in _each_sample(interpreter, xs, progress, deadline):
        for i, out in enumerate(outs):
            raw[i].append(interpreter.get_tensor(out["index"]).copy())
    arrays: dict[str, Any] = {}
    for i, out in enumerate(outs):
        y_raw = (np.concatenate(raw[i], axis=0) if raw[i]
                 else np.zeros((0, *out["shape"][1:]), out["dtype"]))
        arrays[f"y{i}"], arrays[f"y_raw{i}"] = _dequantize(y_raw, out), y_raw
    q = [[float(o["quantization"][0]), int(o["quantization"][1])] for o in outs]
    return {
        **arrays, "y": arrays["y0"], "y_raw": arrays["y_raw0"],
        "input_quantization": [float(inp["quantization"][0]), int(inp["quantization"][1])],
        "output_quantization": q[0], "outputs_quantization": q, "outputs": len(outs),
        "samples": len(arrays["y_raw0"]),
    }


def dump_tensors(model_path: str, x: np.ndarray | list[np.ndarray], runtime: str,
                 indices: list[int],
                 progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Every requested tensor (by index) after each sample's invoke, dequantized to float32 and
    stacked over samples: `t<index>` -> [samples, *shape]. Intermediate tensors are kept with
    the runtime's optimized kernels (preserving them turns the default delegate off)."""
    interpreter = open_interpreter(model_path, runtime, preserve_all_tensors=True)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    missing = [i for i in indices if i not in details]
    if missing:
        raise ValueError(f"the model has no tensors {missing}")
    out: dict[int, list[np.ndarray]] = {i: [] for i in indices}
    for _ in _each_sample(interpreter, x if isinstance(x, list) else [x], progress):
        for i in indices:
            out[i].append(_dequantize(interpreter.get_tensor(i).copy(), details[i]))
    return {f"t{i}": np.stack(v) for i, v in out.items()}
