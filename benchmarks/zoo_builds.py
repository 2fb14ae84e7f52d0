"""What the benchmarks on the tests' small real models share (tests/zoo.py): the zoo's models
saved to a folder, and a `gelu-edge build` of one with its records read back."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))


def saved(names: list[str], folder: Path) -> Iterator[tuple[str, Path, Path]]:
    """(name, model .keras, data .npz) for each zoo model, made and saved into `folder`."""
    from zoo import ZOO

    for name in names:
        model, data, _ = ZOO[name]()
        model_path, data_path = folder / f"{name}.keras", folder / f"{name}.npz"
        model.save(model_path)
        np.savez(data_path, **data)
        yield name, model_path, data_path


def build(model: Path, data: Path, out: Path, *args: str) -> tuple[dict, dict]:
    """`gelu-edge build --target rpi` of a saved model into `out`: (parity.json, convert.json);
    a build that neither passes nor fails its gate (exit 2, 70) stops the benchmark."""
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--model", str(model),
                           "--data", str(data), "--target", "rpi", "--out", str(out), *args],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"build failed ({' '.join(args)}): {proc.stderr[-2000:]}")
    return (json.loads((out / "parity.json").read_text()),
            json.loads((out / "convert.json").read_text()))
