"""Artifact names in a build folder, atomic writes and content hashes.

Every artifact is written to a temporary file in the same folder and renamed into place, so an
interrupted or failed step never leaves a half-written file under a final name. And when a
stage is about to write, it first removes what it and the later stages wrote before
(`clear_from`): a folder never mixes a new model with the report of an old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FLOAT = "model_float.keras"
MODEL_APPROX = "model_approx.keras"
MODEL_TFLITE = "model.tflite"
TRAIN_RECORD = "train.json"
APPROX_RECORD = "approximate.json"
CONVERT_RECORD = "convert.json"
PARITY_JSON = "parity.json"
PARITY_MD = "parity.md"
PARITY_SAMPLES = "parity_samples.npz"
MANIFEST = "manifest.json"
GELU_CURVES = "gelu_sites.npz"
PARITY_HTML = "parity.html"
PLOTS_DIR = "plots"

# What each stage writes, in stage order.
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "train": (MODEL_FLOAT, TRAIN_RECORD),
    "approximate": (MODEL_APPROX, APPROX_RECORD),
    "convert": (MODEL_TFLITE, CONVERT_RECORD),
    "parity": (GELU_CURVES, PARITY_SAMPLES, PARITY_JSON),
    "report": (PARITY_MD, PARITY_HTML, PLOTS_DIR, MANIFEST),
}


def clear_from(out: Path, stage: str, keep: tuple[str, ...] = ()) -> None:
    """Remove what `stage` and every later stage wrote to OUT (but `keep`): called right before
    a stage writes, so its new artifacts are never read beside an older run's later ones."""
    import shutil

    stages = list(STAGE_OUTPUTS)
    for later in stages[stages.index(stage):]:
        for name in STAGE_OUTPUTS[later]:
            path = Path(out) / name
            if name in keep:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it to `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}",
                                    dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(final: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text(final: Path, text: str) -> None:
    """Write text (UTF-8) atomically."""
    write_bytes(final, text.encode("utf-8"))


def write_json(final: Path, obj: Any) -> None:
    """Write JSON atomically, indented and with a trailing newline."""
    write_text(final, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_npz(final: Path, **arrays: np.ndarray) -> None:
    """Write a compressed .npz atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(final, buf.getvalue())


def read_json(path: Path) -> Any:
    """Read a JSON artifact written by an earlier stage."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_bytes(path: Path) -> bytes:
    """Read an artifact's bytes; an unreadable file is a UserError naming it."""
    from pipeline.errors import UserError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require(build_dir: Path, name: str, made_by: str) -> Path:
    """Path of an artifact an earlier stage must have written; a clear UserError if it is missing."""
    from pipeline.errors import UserError

    path = Path(build_dir) / name
    if not path.is_file():
        raise UserError(
            f"{path} not found: run `gelu-edge {made_by} --out {build_dir}` first "
            "(or `gelu-edge build`)"
        )
    return path
