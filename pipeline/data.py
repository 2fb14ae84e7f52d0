"""Load and check the data a build uses: train / eval / calibration splits in one `.npz`.

Format (see calibration_data/README.md): arrays `x_train`, `y_train`, `x_eval`, `y_eval`,
`x_calib`. `x_*` are float arrays with samples on the first axis; `y_*` are float targets
(regression) or integer class labels (classification). Loaded with pickles disabled.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import UserError

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "calibration_data" / "demo_regression.npz"
SPLIT_KEYS = ("x_train", "y_train", "x_eval", "y_eval", "x_calib")
MIN_CALIBRATION_SAMPLES = 100


@dataclass(frozen=True)
class Dataset:
    """The splits of one data file, checked."""

    path: Path
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    x_calib: np.ndarray

    @property
    def task(self) -> str:
        """'classification' for integer labels, else 'regression'."""
        return "classification" if np.issubdtype(self.y_train.dtype, np.integer) else "regression"


def _check_array(path: Path, key: str, arr: np.ndarray) -> np.ndarray:
    if arr.size == 0 or arr.shape[0] == 0:
        raise UserError(f"{path}: array {key!r} is empty; every split needs at least one sample")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise UserError(f"{path}: array {key!r} has dtype {arr.dtype}; expected a numeric array")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise UserError(f"{path}: array {key!r} has {bad} NaN/inf values; clean the data first")
    if key.startswith("x_"):
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32)
        return arr.astype(np.float32, copy=False)
    return arr


def load_dataset(path: Path | str = DEFAULT_DATA) -> Dataset:
    """Load a data file and check it: keys, numeric dtypes, finite values, consistent shapes."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} not found; pass --data PATH to an .npz with {', '.join(SPLIT_KEYS)}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in SPLIT_KEYS if k not in npz.files]
            if missing:
                raise UserError(
                    f"{path}: missing arrays {', '.join(missing)}; a data file holds "
                    f"{', '.join(SPLIT_KEYS)} (see calibration_data/README.md)"
                )
            arrays = {k: _check_array(path, k, npz[k]) for k in SPLIT_KEYS}
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    feature_shape = arrays["x_train"].shape[1:]
    for split in ("train", "eval"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.shape[0] != y.shape[0]:
            raise UserError(
                f"{path}: x_{split} has {x.shape[0]} samples but y_{split} has {y.shape[0]}"
            )
    for key in ("x_eval", "x_calib"):
        if arrays[key].shape[1:] != feature_shape:
            raise UserError(
                f"{path}: {key} has sample shape {arrays[key].shape[1:]}, "
                f"x_train has {feature_shape}; all x arrays need the same sample shape"
            )
    return Dataset(path=path, **arrays)


def check_model_input(path: Path, x: np.ndarray, input_shape: tuple[int | None, ...]) -> None:
    """Raise a UserError if samples of `x` do not fit a model input of `input_shape`."""
    want = tuple(input_shape[1:])
    got = tuple(x.shape[1:])
    if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
        raise UserError(
            f"{path}: samples have shape {got} but the model expects {want}; "
            "pass data that matches the model's input"
        )
