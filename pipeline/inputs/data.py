"""Load and check the data a build uses (see calibration_data/README.md).

`--data FILE.npz`, loaded with pickles disabled, in one of two forms:
- splits: `x_train`, `y_train`, `x_eval`, `y_eval`, `x_calib` (the demo's form);
- evaluation data: `x` (or one `x_<name>` per model input) and, when there are labels, `y` (or
  one `y_<name>` per model output); for fine-tuning the first 80 % is used to fine-tune and the
  rest to evaluate.
`--calibration PATH` gives the calibration samples in any form `pipeline.inputs.calibration`
reads. Without `--data` (a user's model), parity runs on the calibration samples and the task
metric is absent. `x` arrays have samples on the first axis; integer model inputs (token ids,
masks) stay integer, float inputs become float32; integer `y` means class labels.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import calibration_data
from pipeline.errors import UserError
from pipeline.inputs import batch
from pipeline.inputs.arrays import check_numeric, check_shape, conform
from pipeline.inputs.paths import refuse_symlink_loop
from pipeline.inputs.signature import Signature, TensorInfo
from pipeline.tasks.base import Task

DEFAULT_DATA = calibration_data.folder() / "demo_regression.npz"
SPLIT_KEYS = ("x_train", "y_train", "x_eval", "y_eval", "x_calib")
MIN_SAMPLES = 100  # fewer calibration or evaluation samples than this get a warning
FINE_TUNE_SHARE = 0.8  # x/y data: the first 80 % fine-tunes, the rest evaluates
# Coverage: a value counts as covered inside the reference range widened by 10 % of its span;
# under 99 % covered means the data lies where the model (or the calibration) never looked.
COVERAGE_WIDEN = 0.10
MIN_COVERAGE = 0.99
# A value more than this many calibration spans beyond its feature's calibration range is far
# outside: int8 saturates it, and such a value can dominate the SNR of a whole output.
FAR_SPANS = 10.0


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
    # Evaluation samples holding values far outside the calibration range (int8 saturates
    # there, and a single huge value can carry a whole SNR).
    far_samples: tuple[int, ...] = ()

    @property
    def tasks(self) -> list[Task]:
        """The task of each output, from its labels (empty without labels)."""
        from pipeline import tasks

        y = self.y_eval if self.y_eval is not None else self.y_train
        return [] if y is None else [tasks.of(a) for a in batch.as_list(y)]


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    refuse_symlink_loop(path, "data file")
    if not path.is_file():
        raise UserError(f"data file {path} not found; pass --data PATH to an .npz with x and y "
                        f"(or {', '.join(SPLIT_KEYS)})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npz file: damaged or truncated, or not an .npz "
                        f"({exc})") from None


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


def _xy_keys(path: Path, files: list[str], signature: Signature | None
             ) -> tuple[list[str], list[str]]:
    xs = _named_keys(path, files, "x", signature.input_names if signature else None)
    ys = _named_keys(path, files, "y", signature.output_names if signature else None)
    if not xs:
        raise UserError(f"{path}: holds {', '.join(files) or 'nothing'}; a data file holds x and "
                        f"y (or x_<input> and y_<output> per model input and output; y is "
                        f"optional), or {', '.join(SPLIT_KEYS)} (see calibration_data/README.md)")
    names = signature.output_names if signature else []
    if len(names) > 1 and ys == ["y"]:
        raise UserError(f"{path}: one y for a model with outputs {', '.join(names)}; "
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


def _float_inputs(x: batch.Inputs) -> list[int]:
    """Which inputs are float (coverage says nothing about token ids)."""
    return [i for i, a in enumerate(batch.as_list(x)) if np.issubdtype(a.dtype, np.floating)]


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
        floats = _float_inputs(arr)
        if not floats:
            continue
        share = min(coverage(batch.as_list(ref)[i], batch.as_list(arr)[i]) for i in floats)
        if share < MIN_COVERAGE:
            found.append(f"{100 * (1 - share):.1f} % of the {name} values lie outside the range "
                         f"of {ref_name} (widened by {COVERAGE_WIDEN:.0%}): the model or its "
                         "calibration never saw such values")
    far, count = far_outside(data)
    if far:
        shown = ", ".join(map(str, far[:5])) + (" ..." if len(far) > 5 else "")
        found.append(f"{count} values in {len(far)} {data.eval_split} samples (samples "
                     f"{shown}) lie more than {FAR_SPANS:g} calibration spans outside the "
                     "calibration range: int8 saturates there; the report gives the share of the "
                     "error they carry")
    return tuple(found)


def far_outside(data: Dataset) -> tuple[tuple[int, ...], int]:
    """(evaluation samples with values more than FAR_SPANS calibration spans outside the
    calibration range of their feature, how many such values)."""
    if data.eval_split == "calibration":
        return (), 0
    far: set[int] = set()
    count = 0
    for i in _float_inputs(data.x_eval):
        ref = batch.as_list(data.x_calib)[i]
        test = batch.as_list(data.x_eval)[i]
        ref = ref.reshape(len(ref), -1).astype(np.float64)
        values = test.reshape(len(test), -1).astype(np.float64)
        lo, hi = ref.min(axis=0), ref.max(axis=0)
        span = np.maximum(hi - lo, np.finfo(np.float32).tiny)
        outside = (values < lo - FAR_SPANS * span) | (values > hi + FAR_SPANS * span)
        count += int(outside.sum())
        far.update(int(s) for s in np.nonzero(outside.any(axis=1))[0])
    return tuple(sorted(far)), count


def _x(path: Path, key: str, arr: np.ndarray, info: TensorInfo | None) -> np.ndarray:
    arr = conform(arr, info, f"{path}: array {key!r}")
    if info is not None:
        check_shape(arr, info, f"{path}: array {key!r}")
    return arr


def _xs(path: Path, key: str, arr: np.ndarray | list[np.ndarray], keys: list[str],
        signature: Signature | None) -> batch.Inputs:
    """One split's x arrays (one per model input), checked and cast."""
    arrays = batch.as_list(arr)
    infos = signature.inputs if signature is not None else [None] * len(arrays)
    if len(arrays) != len(infos):
        raise UserError(f"{path}: {len(arrays)} input arrays ({', '.join(keys)}) for a model "
                        f"with {len(infos)} inputs ({', '.join(signature.input_names)}); give "
                        "one x_<input> per input")
    out = [_x(path, k, a, info) for k, a, info in zip(keys, arrays, infos)]
    return out[0] if len(out) == 1 else out


def _y(path: Path, key: str, arr: np.ndarray) -> np.ndarray:
    return check_numeric(arr, f"{path}: array {key!r}")


def _check_labels(path: Path, key: str, y: np.ndarray, info: TensorInfo) -> None:
    """UserError unless each sample of `y` fits the model output: one class label (integer
    labels), or as many values as the output gives (float labels)."""
    from pipeline import tasks

    if None in info.sample_shape:
        return
    width = int(np.prod(y.shape[1:], dtype=np.int64))
    classes = tasks.of(y).agreement is not None
    want = 1 if classes else int(np.prod(info.sample_shape, dtype=np.int64))
    if width != want:
        what = "one class label per sample" if classes else f"{want} value(s) per sample"
        raise UserError(f"{path}: array {key!r} has samples of shape {tuple(y.shape[1:])} "
                        f"({width} values) but model output {info.name!r} gives "
                        f"{tuple(info.sample_shape)}; give {what}")


def load_dataset(path: Path | str | None = DEFAULT_DATA, calibration: Path | None = None,
                 signature: Signature | None = None, fine_tune: bool = False) -> Dataset:
    """Load and check --data and --calibration: keys, numeric dtypes, finite values, shapes,
    integer inputs kept integer; warnings (few samples, poor coverage) in `Dataset.warnings`."""
    from pipeline.inputs.calibration import load_calibration

    x_calib = (load_calibration(calibration, signature.inputs if signature else None)
               if calibration is not None else None)
    if path is None:
        if x_calib is None:
            raise UserError("no data: pass --data FILE.npz (x and y) and/or --calibration PATH")
        data = Dataset(path=Path(calibration), x_train=None, y_train=None, x_eval=x_calib,
                       y_eval=None, x_calib=x_calib, eval_split="calibration",
                       calib_source="calibration")
        return replace(data, warnings=_warnings(data), far_samples=far_outside(data)[0])
    path = Path(path)
    raw = _read_npz(path)
    present = [k for k in SPLIT_KEYS if k in raw]
    if present and len(present) < len(SPLIT_KEYS) and "x" not in raw:
        missing = [k for k in SPLIT_KEYS if k not in raw]
        raise UserError(f"{path}: missing arrays {', '.join(missing)}; a data file holds "
                        f"{', '.join(SPLIT_KEYS)}, or x and y (see calibration_data/README.md)")
    if len(present) == len(SPLIT_KEYS):
        xs = {k: _xs(path, k, raw[k], [k], signature) for k in ("x_train", "x_eval", "x_calib")}
        data = Dataset(path=path, x_train=xs["x_train"], y_train=_y(path, "y_train",
                                                                    raw["y_train"]),
                       x_eval=xs["x_eval"], y_eval=_y(path, "y_eval", raw["y_eval"]),
                       x_calib=xs["x_calib"] if x_calib is None else x_calib,
                       calib_source="x_calib" if x_calib is None else "calibration")
        if signature is not None and len(signature.outputs) == 1:
            for key in ("y_train", "y_eval"):
                _check_labels(path, key, raw[key], signature.outputs[0])
    else:
        xks, yks = _xy_keys(path, list(raw), signature)
        x = _xs(path, "x", [raw[k] for k in xks], xks, signature)
        ys = [_y(path, k, raw[k]) for k in yks]
        if signature is not None and len(ys) == len(signature.outputs):
            for key, y_arr, info in zip(yks, ys, signature.outputs):
                _check_labels(path, key, y_arr, info)
        counts = {k: len(a) for k, a in zip(xks + yks, batch.as_list(x) + ys)}
        if len(set(counts.values())) > 1:
            raise UserError(f"{path}: arrays of different lengths: "
                            + ", ".join(f"{k} {n}" for k, n in counts.items()))
        y = None if not ys else ys[0] if len(ys) == 1 else ys
        x_train = y_train = None
        if fine_tune:
            if y is None:
                raise UserError(f"{path}: fine-tuning needs labels: add y (or y_<output>)")
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
    return replace(data, warnings=extra + _warnings(data), far_samples=far_outside(data)[0])


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


def check_model_input(path: Path, x: batch.Inputs, signature: Signature) -> None:
    """Raise a UserError if the samples of `x` do not fit the model's inputs."""
    arrays = batch.as_list(x)
    if len(arrays) != len(signature.inputs):
        raise UserError(f"{path}: {len(arrays)} input arrays for a model with "
                        f"{len(signature.inputs)} inputs ({', '.join(signature.input_names)})")
    for arr, info in zip(arrays, signature.inputs):
        check_shape(arr, info, str(path))


def load_for_model(path: Path | None, calibration: Path | None, model: Any | None,
                   fine_tune: bool = False) -> Dataset:
    """load_dataset with the model's signature (when there is a model)."""
    if model is None:
        return load_dataset(path, calibration, None, fine_tune)
    from pipeline.inputs import tables
    from pipeline.inputs.signature import describe

    signature = describe(model)
    data = load_dataset(path, calibration, signature, fine_tune)
    found = tables.find(model, signature)
    if found:
        _check_ids(data, calibration, signature, found)
    return data


def _check_ids(data: Dataset, calibration: Path | None, signature: Signature,
               found: list[Any]) -> None:
    """Every id of every split inside the tables its input indexes."""
    from pipeline.inputs import tables

    n = len(signature.inputs)
    if data.eval_split == "eval":  # the splits form: one array per split
        splits = [("x_train", data.x_train), ("x_eval", data.x_eval)]
        if data.calib_source == "x_calib":
            splits.append(("x_calib", data.x_calib))
        for key, arr in splits:
            if arr is not None:
                tables.check(arr, found, signature, str(data.path), [key] * n)
    elif data.eval_split != "calibration":  # x (or x_<input>) of an x/y file
        keys = data.eval_split.split()
        keys = keys if len(keys) == n else [data.eval_split] * n
        for arr in (data.x_train, data.x_eval):
            if arr is not None:
                tables.check(arr, found, signature, str(data.path), keys)
    if data.calib_source == "calibration" and calibration is not None:
        keys = [f"x_{t.name}" for t in signature.inputs] if n > 1 else [None]
        tables.check(data.x_calib, found, signature, str(calibration), keys)
