"""A float TFLite model's intermediate tensors on calibration samples, read in this process
with ai-edge-litert (which, unlike tflite-runtime, may live beside TensorFlow): what smoothing
and the attention ranges are computed from."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from pipeline.inputs import batch as batches
from pipeline.tfenv import captured_native_output


def on_samples(data: bytes, calib_x: batches.Inputs, limit: int) -> Iterator[Any]:
    """The interpreter after each of the first `limit` samples, every tensor kept."""
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():  # keeping every tensor is the point here, not a debug aid
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors",
                                category=UserWarning)
        # LiteRT announces its XNNPACK delegate on stderr: not the user's business.
        with captured_native_output():
            interpreter = Interpreter(model_content=bytes(data),
                                      experimental_preserve_all_tensors=True)
            interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    arrays = batches.as_list(calib_x)
    for i in range(min(limit, len(arrays[0]))):
        for d, a in zip(details, arrays):
            interpreter.set_tensor(d["index"], a[i:i + 1].astype(d["dtype"], copy=False))
        interpreter.invoke()
        yield interpreter


def by_name(interpreter: Any) -> dict[str, int]:
    """Tensor name -> index."""
    return {d["name"]: d["index"] for d in interpreter.get_tensor_details()}


def min_max(data: bytes, calib_x: batches.Inputs, indices: list[int], limit: int,
            advance: Any = None) -> tuple[dict[int, float], dict[int, float]]:
    """Each tensor's min and max over the first `limit` samples ((inf, -inf) if never set);
    `advance(1)` after each sample, for a progress bar."""
    import numpy as np

    lo = {i: np.inf for i in indices}
    hi = {i: -np.inf for i in indices}
    for interpreter in on_samples(data, calib_x, limit):
        for i in indices:
            x = interpreter.get_tensor(i)
            lo[i], hi[i] = min(lo[i], float(x.min())), max(hi[i], float(x.max()))
        if advance is not None:
            advance(1)
    return lo, hi
