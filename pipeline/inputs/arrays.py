"""Checks every input array passes, whatever file it came from: numeric, finite, and of the
shape and type of the model input it feeds. Integer inputs (token ids, masks) stay integer."""

from __future__ import annotations

import numpy as np

from pipeline.errors import UserError
from pipeline.inputs.signature import TensorInfo

FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_numeric(arr: np.ndarray, source: str) -> np.ndarray:
    """A numeric, non-empty array with finite values (that float32 can hold, for floats)."""
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == np.bool_):
        raise UserError(f"{source} has dtype {arr.dtype}, not numeric; expected a "
                        "numeric array")
    if arr.size == 0 or arr.ndim == 0 or arr.shape[0] == 0:
        raise UserError(f"{source} is empty; it needs at least one sample")
    if np.issubdtype(arr.dtype, np.floating):
        wide = arr.astype(np.float64, copy=False)
        finite = np.isfinite(wide)
        if not finite.all():
            bad = int(arr.size - np.count_nonzero(finite))
            raise UserError(f"{source} has {bad} NaN/inf values; clean the data first")
        big = np.abs(wide) > FLOAT32_MAX
        if big.any():
            raise UserError(f"{source} has {int(big.sum())} values beyond float32's range "
                            f"(largest {float(np.abs(wide).max()):.3g}): they would become "
                            "inf; clean or rescale the data")
    return arr


def shape_fits(sample_shape: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    """True when a sample shape fits a model input's (None matches any size)."""
    return len(sample_shape) == len(want) and all(w is None or w == g
                                                  for w, g in zip(want, sample_shape))


def conform(arr: np.ndarray, info: TensorInfo | None, source: str) -> np.ndarray:
    """The array checked and cast for the model input `info` (None: no model, float32).

    Float inputs become float32. Integer inputs take integer arrays, or float arrays that hold
    whole numbers; both are cast to the input's integer type if every value fits."""
    arr = check_numeric(np.asarray(arr), source)
    if info is None or not info.is_integer:
        if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
            return arr.astype(np.float32)
        return arr.astype(np.float32, copy=False)
    want = np.dtype(info.dtype)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise UserError(f"{source} holds fractional values, but model input {info.name!r} is "
                        f"{info.dtype} (token ids, segment ids, masks); give whole numbers")
    limits = np.iinfo(want)
    if arr.size and (arr.min() < limits.min or arr.max() > limits.max):
        raise UserError(f"{source} has values outside {info.dtype}'s range for model input "
                        f"{info.name!r} ({arr.min()}..{arr.max()})")
    return arr.astype(want)


def check_shape(arr: np.ndarray, info: TensorInfo, source: str) -> None:
    """UserError unless the samples of `arr` fit the model input."""
    if not shape_fits(tuple(arr.shape[1:]), info.sample_shape):
        want = tuple("any" if d is None else d for d in info.sample_shape)
        raise UserError(f"{source}: samples have shape {tuple(arr.shape[1:])} but model input "
                        f"{info.name!r} expects {want}; pass data that matches the model's input")
