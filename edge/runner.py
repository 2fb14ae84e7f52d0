"""Run a TFLite model sample by sample: quantize inputs, invoke, dequantize outputs."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edge import runtimes


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


class DelegateError(Exception):
    """The external delegate could not be loaded."""


def open_interpreter(model_path: str, runtime: str, num_threads: int | None = None,
                     delegate: str | None = None, preserve_all_tensors: bool = False) -> Any:
    """Load and prepare a model on a runtime, with an optional external delegate (a shared
    library path); ModelLoadError with the runtime's words if it cannot."""
    interpreter_cls, _ = runtimes.load(runtime)
    delegates = None
    if delegate:
        try:
            delegates = [runtimes.RUNTIMES[runtime].load_delegate(delegate)]
        except (OSError, ValueError, RuntimeError) as exc:
            raise DelegateError(f"cannot load delegate {delegate}: "
                                f"{' '.join(str(exc).split())}") from None
    try:
        interpreter = interpreter_cls(model_path=model_path, num_threads=num_threads,
                                      experimental_delegates=delegates,
                                      experimental_preserve_all_tensors=preserve_all_tensors)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(" ".join(str(exc).split())) from None
    return interpreter


def smoke_test(model_path: str, runtime: str, delegate: str | None = None) -> None:
    """Load the model and invoke it once on zeros: ModelLoadError if the runtime cannot (an op
    or op version it does not register, a kernel that rejects the tensor types)."""
    interpreter = open_interpreter(model_path, runtime, delegate=delegate)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    try:
        interpreter.invoke()
    except RuntimeError as exc:
        raise ModelLoadError(" ".join(str(exc).split())) from None


def _each_sample(interpreter: Any, x: np.ndarray,
                 progress: Callable[[int, int], None] | None) -> Iterator[None]:
    """Set each batch of `x` (the model's batch size) as the input, invoke, yield; report
    progress after each."""
    inp = interpreter.get_input_details()[0]
    batch = int(inp["shape"][0])
    if x.shape[1:] != tuple(inp["shape"][1:]):
        raise ValueError(f"inputs have sample shape {x.shape[1:]}, the model wants "
                         f"{tuple(inp['shape'][1:])}")
    n = (len(x) // batch) * batch
    for start in range(0, n, batch):
        interpreter.set_tensor(inp["index"], _quantize(x[start:start + batch], inp))
        try:
            interpreter.invoke()
        except RuntimeError as exc:
            raise ModelLoadError(" ".join(str(exc).split())) from None
        yield
        if progress is not None:
            progress(start + batch, n)


def run_model(model_path: str, x: np.ndarray, runtime: str, num_threads: int | None = None,
              progress: Callable[[int, int], None] | None = None,
              delegate: str | None = None) -> dict[str, Any]:
    """Run every sample of `x` (samples on axis 0) through the model, batch size 1.

    Returns `y` (outputs dequantized to float32), `y_raw` (outputs as the model produced
    them) and the input/output quantization parameters.
    """
    interpreter = open_interpreter(model_path, runtime, num_threads, delegate)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    raw = [interpreter.get_tensor(out["index"]).copy()
           for _ in _each_sample(interpreter, x, progress)]
    y_raw = np.concatenate(raw, axis=0)
    n = len(y_raw)
    return {
        "y": _dequantize(y_raw, out),
        "y_raw": y_raw,
        "input_quantization": [float(inp["quantization"][0]), int(inp["quantization"][1])],
        "output_quantization": [float(out["quantization"][0]), int(out["quantization"][1])],
        "samples": n,
    }


def dump_tensors(model_path: str, x: np.ndarray, runtime: str, indices: list[int],
                 progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Every requested tensor (by index) after each sample's invoke, dequantized to float32 and
    stacked over samples: `t<index>` -> [samples, *shape]. Intermediate tensors are kept with
    the runtime's reference kernels (preserving them turns the default delegate off)."""
    interpreter = open_interpreter(model_path, runtime, preserve_all_tensors=True)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    missing = [i for i in indices if i not in details]
    if missing:
        raise ValueError(f"the model has no tensors {missing}")
    out: dict[int, list[np.ndarray]] = {i: [] for i in indices}
    for _ in _each_sample(interpreter, x, progress):
        for i in indices:
            out[i].append(_dequantize(interpreter.get_tensor(i).copy(), details[i]))
    return {f"t{i}": np.stack(v) for i, v in out.items()}
