"""Latency of one model invoke on a runtime: median over repeats, one thread by default."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from edge import runtimes
from edge.runner import open_interpreter


def median_invoke_ms(model_path: str, runtime: str, repeats: int = 20, warmup: int = 3,
                     num_threads: int = 1, seed: int = 0) -> dict[str, Any]:
    """Invoke the model `warmup + repeats` times on random input; median and min in ms."""
    _, version = runtimes.load(runtime)
    interpreter = open_interpreter(model_path, runtime, num_threads)
    inp = interpreter.get_input_details()[0]
    dtype = np.dtype(inp["dtype"])
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max + 1, size=inp["shape"], dtype=dtype)
    else:
        x = rng.standard_normal(inp["shape"]).astype(dtype)
    times = []
    for i in range(warmup + repeats):
        interpreter.set_tensor(inp["index"], x)
        start = time.perf_counter()
        interpreter.invoke()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    return {"runtime": runtime, "version": version, "median_ms": statistics.median(times),
            "min_ms": min(times), "repeats": repeats, "threads": num_threads}
