"""`--calibration PATH`: representative samples for post-training quantization, in the forms users
have them: `.npy`, `.npz`, `.csv` (numeric, optional header row), or a folder of `.npy` files or
of images (PNG/JPEG, resized to the model's input and scaled to [0, 1]). Arrays load with
pickles disabled; every problem is one UserError naming the file and what to do."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pipeline.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_KEYS = ("x_calib", "x")


def _as_samples(arr: np.ndarray, sample_shape: tuple[int, ...] | None, source: str) -> np.ndarray:
    """One sample or a batch -> a batch of `sample_shape` samples."""
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise UserError(f"{source}: dtype {arr.dtype} is not numeric")
    if sample_shape is None:
        return arr.astype(np.float32)
    if arr.shape == sample_shape:
        arr = arr[None]
    if arr.shape[1:] != sample_shape:
        if arr.ndim == 2 and arr.shape[1] == int(np.prod(sample_shape)):
            arr = arr.reshape((len(arr), *sample_shape))
        else:
            raise UserError(f"{source}: samples have shape {arr.shape[1:]} but the model "
                            f"expects {sample_shape}")
    return arr.astype(np.float32)


def _npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None


def _npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            key = files[0] if len(files) == 1 else next((k for k in NPZ_KEYS if k in files), None)
            if key is None:
                raise UserError(f"{path}: holds {', '.join(files)}; name the calibration array "
                                f"one of {', '.join(NPZ_KEYS)} (or keep a single array)")
            return npz[key]
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None


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


def _image(path: Path, sample_shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if len(sample_shape) == 2:
        (height, width), mode, channels = sample_shape, "L", None
    elif len(sample_shape) == 3 and sample_shape[-1] in (1, 3):
        height, width, channels = sample_shape
        mode = "L" if channels == 1 else "RGB"
    else:
        raise UserError(f"{path}: the model input {sample_shape} is not an image "
                        "(height, width[, 1 or 3 channels])")
    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert(mode).resize((width, height), Image.BILINEAR),
                                np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None
    return pixels[..., None] if channels == 1 else pixels


def _folder(path: Path, sample_shape: tuple[int, ...] | None) -> np.ndarray:
    files = sorted(p for p in path.iterdir() if p.is_file())
    arrays = [p for p in files if p.suffix == ".npy"]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if arrays and images:
        raise UserError(f"{path}: holds both .npy files and images; use one kind")
    if arrays:
        return np.concatenate([_as_samples(_npy(p), sample_shape, str(p)) for p in arrays])
    if images:
        if sample_shape is None:
            raise UserError(f"{path}: images need the model's input shape (pass --model)")
        return np.stack([_image(p, sample_shape) for p in images])
    raise UserError(f"{path}: no .npy files or PNG/JPEG images in this folder")


def load_calibration(path: Path, sample_shape: tuple[int, ...] | None) -> np.ndarray:
    """Calibration samples from any supported form, as float32 [samples, *sample_shape]."""
    path = Path(path)
    if path.is_dir():
        arr = _folder(path, sample_shape)
    elif not path.is_file():
        raise UserError(f"calibration data {path} not found")
    elif path.suffix == ".npy":
        arr = _npy(path)
    elif path.suffix == ".npz":
        arr = _npz(path)
    elif path.suffix == ".csv":
        arr = _csv(path)
    else:
        raise UserError(f"{path}: unsupported calibration format; use .npy, .npz, .csv or a "
                        "folder of .npy files or PNG/JPEG images")
    arr = _as_samples(np.asarray(arr), sample_shape, str(path))
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise UserError(f"{path}: {bad} NaN/inf values in the calibration samples; clean them")
    if len(arr) == 0:
        raise UserError(f"{path}: no calibration samples")
    return arr
