"""Histograms of a model's intermediate tensors over many samples, for calibration methods that
look past min and max (percentile, MSE). Standard library, numpy and a runtime only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.runner import _dequantize, _each_sample, open_interpreter


def tensor_histograms(model_path: str, x: np.ndarray | list[np.ndarray], runtime: str,
                      indices: list[int], lows: np.ndarray, highs: np.ndarray, bins: int,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Per tensor index, the counts of its values in `bins` equal bins over [low, high] (values
    outside land in the end bins), summed over every sample: `h<index>` -> counts."""
    interpreter = open_interpreter(model_path, runtime, preserve_all_tensors=True)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    missing = [i for i in indices if i not in details]
    if missing:
        raise ValueError(f"the model has no tensors {missing}")
    counts = {i: np.zeros(bins, np.int64) for i in indices}
    spans = {i: (float(lo), float(hi)) for i, lo, hi in zip(indices, lows, highs)}
    for _ in _each_sample(interpreter, x if isinstance(x, list) else [x], progress):
        for i in indices:
            values = _dequantize(interpreter.get_tensor(i), details[i]).ravel()
            lo, hi = spans[i]
            width = (hi - lo) / bins if hi > lo else 1.0
            where = np.clip(((values - lo) / width).astype(np.int64), 0, bins - 1)
            counts[i] += np.bincount(where, minlength=bins)
    return {f"h{i}": c for i, c in counts.items()}
