"""Latency of one model invoke on a runtime: median over repeats, one thread by default."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from edge import runtimes
from edge.runner import ModelLoadError, open_interpreter, runtime_words


def _random(inp: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Random values for one input: small non-negative integers for integer inputs that are
    not quantized (token ids, masks), any code for quantized ones, normal floats otherwise."""
    dtype = np.dtype(inp["dtype"])
    if np.issubdtype(dtype, np.integer):
        quantized = inp["quantization"][0] != 0
        info = np.iinfo(dtype)
        low, high = (info.min, info.max + 1) if quantized else (0, 2)
        return rng.integers(low, high, size=inp["shape"], dtype=dtype)
    return rng.standard_normal(inp["shape"]).astype(dtype)


def _invoke_times(interpreter: Any, repeats: int, warmup: int, seed: int,
                  max_seconds: float | None = None) -> list[float]:
    """Seconds of each of `repeats` invokes on random input, after `warmup` untimed ones;
    fewer (at least one) once the timed ones add up to `max_seconds`."""
    rng = np.random.default_rng(seed)
    feeds = [(inp["index"], _random(inp, rng)) for inp in interpreter.get_input_details()]
    times = []
    for i in range(warmup + repeats):
        for index, x in feeds:
            interpreter.set_tensor(index, x)
        start = time.perf_counter()
        try:
            interpreter.invoke()
        except RuntimeError as exc:
            raise ModelLoadError(runtime_words(exc)) from None
        if i >= warmup:
            times.append(time.perf_counter() - start)
            if max_seconds is not None and sum(times) >= max_seconds:
                break
    return times


def median_invoke_ms(model_path: str, runtime: str, repeats: int = 20, warmup: int = 3,
                     num_threads: int = 1, seed: int = 0, max_seconds: float | None = None
                     ) -> dict[str, Any]:
    """Invoke the model `warmup + repeats` times on random input (the timed ones stop early
    once they add up to `max_seconds`); median and min in ms, and the repeats timed."""
    _, version = runtimes.load(runtime)
    interpreter = open_interpreter(model_path, runtime, num_threads)
    times = [1000.0 * t for t in _invoke_times(interpreter, repeats, warmup, seed, max_seconds)]
    return {"runtime": runtime, "version": version, "median_ms": statistics.median(times),
            "min_ms": min(times), "repeats": len(times), "threads": num_threads}


def probe(model_path: str, runtime: str, repeats: int = 3, warmup: int = 1) -> dict[str, Any]:
    """What a time budget needs from the device: seconds to load the model, seconds per
    invoke (the median of `repeats` after `warmup`, threads as `run` uses them) and the CPUs
    this process may use (how many runners can work side by side)."""
    start = time.perf_counter()
    interpreter = open_interpreter(model_path, runtime)
    load_s = time.perf_counter() - start
    times = _invoke_times(interpreter, repeats, warmup, 0)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"load_s": load_s, "invoke_s": statistics.median(times), "repeats": repeats,
            "warmup": warmup, "cpus": int(cpus or 1)}
