"""Load and check the data a build uses (see calibration_data/README.md).

`--data FILE.npz`, loaded with pickles disabled, in one of two forms:
- splits: `x_train`, `y_train`, `x_eval`, `y_eval`, `x_calib` (the demo's form);
- evaluation data: `x` (or one `x_<name>` for the model's input) and `y`; for fine-tuning the
  first 80 % is used to fine-tune and the rest to evaluate.
`--calibration PATH` gives the calibration samples in any form `pipeline.calibration` reads.
Without `--data` (a user's model), parity runs on the calibration samples and the task metric
is absent. `x` arrays are float with samples on the first axis; integer `y` means class labels.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import UserError
from pipeline.inputs import batch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "calibration_data" / "demo_regression.npz"
SPLIT_KEYS = ("x_train", "y_train", "x_eval", "y_eval", "x_calib")
MIN_SAMPLES = 100  # fewer calibration or evaluation samples than this get a warning
FINE_TUNE_SHARE = 0.8  # x/y data: the first 80 % fine-tunes, the rest evaluates
# Coverage: a value counts as covered inside the reference range widened by 10 % of its span;
# under 99 % covered means the data lies where the model (or the calibration) never looked.
COVERAGE_WIDEN = 0.10
MIN_COVERAGE = 0.99


@dataclass(frozen=True)
class Dataset:
    """The data of one build, checked."""

    path: Path
    x_train: Any | None  # one array, or a list with one array per model input
    y_train: Any | None  # one array, or a list with one array per model output
    x_eval: Any
    y_eval: Any | None  # None: no labels, the task metric is absent
    x_calib: Any
    eval_split: str = "eval"  # what x_eval is: eval, x (of an x/y file), calibration
    calib_source: str = "x_calib"
    warnings: tuple[str, ...] = ()

    @property
    def task(self) -> str | None:
        """'classification' for integer labels, 'regression' for float ones, None without
        (the first output's, for a model with several)."""
        tasks = self.tasks
        return tasks[0] if tasks else None

    @property
    def tasks(self) -> list[str]:
        """The task of each output (empty without labels)."""
        y = self.y_eval if self.y_eval is not None else self.y_train
        if y is None:
            return []
        return ["classification" if np.issubdtype(a.dtype, np.integer) else "regression"
                for a in batch.as_list(y)]


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


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UserError(f"data file {path} not found; pass --data PATH to an .npz with x and y "
                        f"(or {', '.join(SPLIT_KEYS)})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None


def _named_keys(path: Path, files: list[str], prefix: str, names: list[str] | None
                ) -> list[str]:
    """The arrays for the model's inputs (prefix x) or outputs (prefix y), in model order:
    `x` alone, or one `x_<name>` per input."""
    plain = [k for k in files if k == prefix]
    named = [k for k in files if k.startswith(prefix + "_") and k not in SPLIT_KEYS]
    if plain and not named:
        return plain
    if not named:
        return []
    if names is None or len(names) == 1:
        if len(named) == 1:
            return named
        raise UserError(f"{path}: {', '.join(named)}: several arrays, but the model has one "
                        f"{'input' if prefix == 'x' else 'output'}")
    missing = [f"{prefix}_{n}" for n in names if f"{prefix}_{n}" not in files]
    if missing:
        raise UserError(f"{path}: missing {', '.join(missing)}; the model's "
                        f"{'inputs' if prefix == 'x' else 'outputs'} are {', '.join(names)}")
    return [f"{prefix}_{n}" for n in names]


def _xy_keys(path: Path, files: list[str], input_names: list[str] | None,
             output_names: list[str] | None) -> tuple[list[str], list[str]]:
    xs = _named_keys(path, files, "x", input_names)
    ys = _named_keys(path, files, "y", output_names)
    if not xs or not ys:
        raise UserError(f"{path}: holds {', '.join(files) or 'nothing'}; a data file holds x and "
                        f"y (or x_<input> and y_<output> per model input and output), or "
                        f"{', '.join(SPLIT_KEYS)} (see calibration_data/README.md)")
    if output_names and len(output_names) > 1 and ys == ["y"]:
        raise UserError(f"{path}: one y for a model with outputs {', '.join(output_names)}; "
                        "give one y_<output> per output")
    return xs, ys


def coverage(reference: np.ndarray, test: np.ndarray) -> float:
    """Share of test values inside the per-feature range of the reference, widened by 10 %."""
    ref = reference.reshape(len(reference), -1)
    tst = test.reshape(len(test), -1)
    lo, hi = ref.min(axis=0), ref.max(axis=0)
    pad = COVERAGE_WIDEN * (hi - lo)
    inside = (tst >= lo - pad) & (tst <= hi + pad)
    return float(inside.mean())


def _warnings(data: Dataset) -> tuple[str, ...]:
    found = []
    for name, arr in (("calibration", data.x_calib), ("evaluation", data.x_eval)):
        if batch.count(arr) < MIN_SAMPLES:
            found.append(f"only {batch.count(arr)} {name} samples (under {MIN_SAMPLES}): the "
                         f"{'quantization ranges' if name == 'calibration' else 'parity figures'}"
                         " may not be representative")
    pairs = []
    if data.x_train is not None:
        pairs += [("x_train", data.x_train, data.calib_source, data.x_calib),
                  ("x_train", data.x_train, data.eval_split, data.x_eval)]
    elif data.eval_split != "calibration":
        pairs.append((data.calib_source, data.x_calib, data.eval_split, data.x_eval))
    for ref_name, ref, name, arr in pairs:
        if batch.sample_shapes(ref) != batch.sample_shapes(arr):
            continue
        share = min(coverage(r, a) for r, a in zip(batch.as_list(ref), batch.as_list(arr)))
        if share < MIN_COVERAGE:
            found.append(f"{100 * (1 - share):.1f} % of the {name} values lie outside the range "
                         f"of {ref_name} (widened by {COVERAGE_WIDEN:.0%}): the model or its "
                         "calibration never saw such values")
    return tuple(found)


def load_dataset(path: Path | str | None = DEFAULT_DATA, calibration: Path | None = None,
                 sample_shape: tuple[int, ...] | None = None, fine_tune: bool = False,
                 input_names: list[str] | None = None,
                 output_names: list[str] | None = None) -> Dataset:
    """Load and check --data and --calibration: keys, numeric dtypes, finite values, shapes;
    warnings (few samples, poor coverage) are in `Dataset.warnings`."""
    from pipeline.inputs.calibration import load_calibration

    if calibration is not None and input_names is not None and len(input_names) > 1:
        raise UserError("--calibration takes one array per sample; for a model with several "
                        "inputs give x_<input> arrays in --data (they calibrate too)")
    x_calib = load_calibration(calibration, sample_shape) if calibration is not None else None
    if path is None:
        if x_calib is None:
            raise UserError("no data: pass --data FILE.npz (x and y) and/or --calibration PATH")
        data = Dataset(path=Path(calibration), x_train=None, y_train=None, x_eval=x_calib,
                       y_eval=None, x_calib=x_calib, eval_split="calibration",
                       calib_source="calibration")
        return Dataset(**{**data.__dict__, "warnings": _warnings(data)})
    path = Path(path)
    raw = _read_npz(path)
    present = [k for k in SPLIT_KEYS if k in raw]
    if present and len(present) < len(SPLIT_KEYS) and "x" not in raw:
        missing = [k for k in SPLIT_KEYS if k not in raw]
        raise UserError(f"{path}: missing arrays {', '.join(missing)}; a data file holds "
                        f"{', '.join(SPLIT_KEYS)}, or x and y (see calibration_data/README.md)")
    if len(present) == len(SPLIT_KEYS):
        arrays = {k: _check_array(path, k, raw[k]) for k in SPLIT_KEYS}
        data = Dataset(path=path, x_train=arrays["x_train"], y_train=arrays["y_train"],
                       x_eval=arrays["x_eval"], y_eval=arrays["y_eval"],
                       x_calib=arrays["x_calib"] if x_calib is None else x_calib,
                       calib_source="x_calib" if x_calib is None else "calibration")
    else:
        xks, yks = _xy_keys(path, list(raw), input_names, output_names)
        xs = [_check_array(path, "x_", raw[k]) for k in xks]
        ys = [_check_array(path, "y", raw[k]) for k in yks]
        counts = {k: len(a) for k, a in zip(xks + yks, xs + ys)}
        if len(set(counts.values())) > 1:
            raise UserError(f"{path}: arrays of different lengths: "
                            + ", ".join(f"{k} {n}" for k, n in counts.items()))
        x = xs[0] if len(xs) == 1 else xs
        y = ys[0] if len(ys) == 1 else ys
        x_train = y_train = None
        if fine_tune:
            n = batch.count(x)
            cut = int(n * FINE_TUNE_SHARE)
            if cut == 0 or cut == n:
                raise UserError(f"{path}: {n} samples are too few to fine-tune and evaluate")
            x_train, y_train = batch.take(x, slice(0, cut)), batch.take(y, slice(0, cut))
            x, y = batch.take(x, slice(cut, None)), batch.take(y, slice(cut, None))
        name = " ".join(xks)
        data = Dataset(path=path, x_train=x_train, y_train=y_train, x_eval=x, y_eval=y,
                       x_calib=x if x_calib is None else x_calib, eval_split=name,
                       calib_source=name if x_calib is None else "calibration")
    _check_shapes(data)
    extra = () if x_calib is not None or data.calib_source == "x_calib" else (
        f"no --calibration: calibrating on {data.calib_source} of {path}, the evaluation data",)
    return Dataset(**{**data.__dict__, "warnings": extra + _warnings(data)})


def _check_shapes(data: Dataset) -> None:
    if data.x_train is not None and data.y_train is not None and \
            batch.count(data.x_train) != batch.count(data.y_train):
        raise UserError(f"{data.path}: x_train has {batch.count(data.x_train)} samples but "
                        f"y_train has {batch.count(data.y_train)}")
    if data.y_eval is not None and batch.count(data.x_eval) != batch.count(data.y_eval):
        raise UserError(f"{data.path}: x_eval has {batch.count(data.x_eval)} samples but y_eval "
                        f"has {batch.count(data.y_eval)}")
    shape = batch.sample_shapes(data.x_eval)
    for name, arr in (("x_train", data.x_train), ("x_calib", data.x_calib)):
        if arr is not None and batch.sample_shapes(arr) != shape:
            raise UserError(f"{data.path}: {name} has sample shape "
                            f"{batch.sample_shapes(arr)}, the evaluation data has {shape}; all "
                            "x arrays need the same sample shape")


def check_model_input(path: Path, x: batch.Inputs,
                      input_shapes: list[tuple[int | None, ...]]) -> None:
    """Raise a UserError if the samples of `x` do not fit the model's inputs."""
    arrays = batch.as_list(x)
    if len(arrays) != len(input_shapes):
        raise UserError(f"{path}: {len(arrays)} input arrays for a model with "
                        f"{len(input_shapes)} inputs")
    for arr, shape in zip(arrays, input_shapes):
        want, got = tuple(shape[1:]), tuple(arr.shape[1:])
        if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
            raise UserError(f"{path}: samples have shape {got} but the model expects {want}; "
                            "pass data that matches the model's input")


def load_for_model(path: Path | None, calibration: Path | None, model: Any | None,
                   fine_tune: bool = False) -> Dataset:
    """load_dataset with the model's input shape and input/output names (when there is one)."""
    if model is None:
        return load_dataset(path, calibration, None, fine_tune)
    from pipeline.inputs.models import input_names, input_shape, output_names

    return load_dataset(path, calibration, tuple(input_shape(model)[1:]), fine_tune,
                        input_names(model), output_names(model))
