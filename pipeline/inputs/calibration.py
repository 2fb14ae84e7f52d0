"""`--calibration PATH`: representative samples for post-training quantization, in the forms users
have them: `.npy`, `.npz`, `.csv` (numeric, optional header row), or a folder of `.npy` files, of
`.npz` files or of images (PNG/JPEG, resized to the model's input and scaled to [0, 1]). A model
with several inputs takes an `.npz` with one `x_<input>` array per input, or a folder of such
files. Arrays load with pickles disabled; every problem is one UserError naming the file and what
to do."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pipeline.errors import UserError
from pipeline.inputs import batch
from pipeline.inputs.arrays import check_shape, conform, shape_fits
from pipeline.inputs.paths import refuse_symlink_loop
from pipeline.inputs.signature import TensorInfo

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_KEYS = ("x_calib", "x")


def _reshape(arr: np.ndarray, info: TensorInfo | None, source: str) -> np.ndarray:
    """One sample or a batch, or flat rows (CSV) -> a batch of the input's samples."""
    if info is None:
        return arr
    want = info.sample_shape
    if len(arr.shape) == len(want) and shape_fits(tuple(arr.shape), want):
        arr = arr[None]
    if not shape_fits(tuple(arr.shape[1:]), want) and arr.ndim == 2 and None not in want \
            and arr.shape[1] == int(np.prod(want)):
        arr = arr.reshape((len(arr), *want))
    check_shape(arr, info, source)
    return arr


def _npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: damaged or truncated .npy file, or not one ({exc})") from None


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: damaged or truncated .npz file, or not one ({exc})") from None


def _npz(path: Path, inputs: list[TensorInfo] | None) -> list[np.ndarray]:
    """The arrays of an .npz for each input: x_<input> per input, or (one input) its only
    array, x_calib or x."""
    arrays = _npz_arrays(path)
    if inputs is not None and len(inputs) > 1:
        missing = [f"x_{t.name}" for t in inputs if f"x_{t.name}" not in arrays]
        if missing:
            raise UserError(f"{path}: holds {', '.join(arrays) or 'nothing'}; a model with inputs "
                            f"{', '.join(t.name for t in inputs)} calibrates on one array per "
                            f"input: {', '.join(f'x_{t.name}' for t in inputs)}")
        return [arrays[f"x_{t.name}"] for t in inputs]
    names = list(arrays)
    named = [f"x_{inputs[0].name}"] if inputs else []
    key = names[0] if len(names) == 1 else next(
        (k for k in (*named, *NPZ_KEYS) if k in arrays), None)
    if key is None:
        raise UserError(f"{path}: holds {', '.join(names) or 'nothing'}; name the calibration "
                        f"array one of {', '.join((*named, *NPZ_KEYS))} (or keep a single array)")
    return [arrays[key]]


def _csv(path: Path) -> np.ndarray:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as text ({exc})") from None
    rows = [ln for ln in lines if ln.strip()]
    if not rows:
        raise UserError(f"{path}: the CSV file is empty")
    try:
        [float(v) for v in rows[0].split(",")]
        start = 0
    except ValueError:
        start = 1  # a header row
    try:
        data = np.array([[float(v) for v in ln.split(",")] for ln in rows[start:]], np.float64)
    except ValueError:
        raise UserError(f"{path}: non-numeric values after the header; the CSV must hold "
                        "numbers only, one sample per row") from None
    if data.ndim != 2 or len(data) == 0:
        raise UserError(f"{path}: rows have different numbers of values (or there are none)")
    return data


def _image(path: Path, info: TensorInfo) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    shape = info.sample_shape
    if None in shape:
        raise UserError(f"{path}: images need a model input of fixed size, {info.name!r} has "
                        f"{shape}")
    if len(shape) == 2:
        (height, width), mode, channels = shape, "L", None
    elif len(shape) == 3 and shape[-1] in (1, 3):
        height, width, channels = shape
        mode = "L" if channels == 1 else "RGB"
    else:
        raise UserError(f"{path}: the model input {shape} is not an image "
                        "(height, width[, 1 or 3 channels])")
    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert(mode).resize((width, height), Image.BILINEAR),
                                np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None
    return pixels[..., None] if channels == 1 else pixels


def _folder(path: Path, inputs: list[TensorInfo] | None) -> list[np.ndarray]:
    files = sorted(p for p in path.iterdir() if p.is_file())
    kinds = {".npy": [p for p in files if p.suffix == ".npy"],
             ".npz": [p for p in files if p.suffix == ".npz"],
             "images": [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]}
    present = [k for k, v in kinds.items() if v]
    if len(present) > 1:
        raise UserError(f"{path}: holds {' and '.join(present)} files; use one kind")
    if not present:
        raise UserError(f"{path}: no .npy or .npz files or PNG/JPEG images in this folder")
    kind = present[0]
    several = inputs is not None and len(inputs) > 1
    if several and kind != ".npz":
        raise UserError(f"{path}: a model with several inputs calibrates on .npz files with "
                        f"{', '.join(f'x_{t.name}' for t in inputs)}; this folder holds {kind}")
    if kind == ".npz":
        parts = [_npz(p, inputs) for p in kinds[".npz"]]
        return [np.concatenate([_reshape(p[i], inputs[i] if inputs else None, str(f))
                                for p, f in zip(parts, kinds[".npz"])])
                for i in range(len(parts[0]))]
    info = inputs[0] if inputs else None
    if kind == ".npy":
        return [np.concatenate([_reshape(_npy(p), info, str(p)) for p in kinds[".npy"]])]
    if info is None:
        raise UserError(f"{path}: images need the model's input shape (pass --model)")
    return [np.stack([_image(p, info) for p in kinds["images"]])]


def load_calibration(path: Path, inputs: list[TensorInfo] | None) -> batch.Inputs:
    """Calibration samples from any supported form: one array (a list, one per input, for a
    model with several inputs), each checked and cast for its model input."""
    path = Path(path)
    refuse_symlink_loop(path, "calibration data")
    if path.is_dir():
        arrays = _folder(path, inputs)
    elif not path.is_file():
        raise UserError(f"calibration data {path} not found")
    elif path.suffix == ".npy":
        arrays = [_npy(path)]
    elif path.suffix == ".npz":
        arrays = _npz(path, inputs)
    elif path.suffix == ".csv":
        arrays = [_csv(path)]
    else:
        raise UserError(f"{path}: unsupported calibration format; use .npy, .npz, .csv or a "
                        "folder of .npy or .npz files or PNG/JPEG images")
    if inputs is not None and len(arrays) != len(inputs):
        raise UserError(f"{path}: one array for a model with inputs "
                        f"{', '.join(t.name for t in inputs)}; give an .npz with "
                        f"{', '.join(f'x_{t.name}' for t in inputs)}")
    out = []
    for i, arr in enumerate(arrays):
        info = inputs[i] if inputs else None
        source = f"{path}" + (f" (x_{info.name})" if inputs and len(inputs) > 1 else "")
        arr = conform(np.asarray(arr), info, source)
        out.append(_reshape(arr, info, source))
    if len({len(a) for a in out}) > 1:
        raise UserError(f"{path}: the inputs' arrays have different numbers of samples: "
                        + ", ".join(f"x_{t.name} {len(a)}" for t, a in zip(inputs or [], out)))
    return out[0] if len(out) == 1 else out
