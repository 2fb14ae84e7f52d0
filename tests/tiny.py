"""A tiny GELU model and its data (4 inputs, 8 hidden units, 64 samples): a whole build of it
takes a few seconds, for tests of what a build does to its folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES = 64
SEED = 0
# --approx sigmoid: no `auto` measurements, whatever the test cache holds.
BUILD_ARGS = ("--approx", "sigmoid")


def save_inputs(folder: Path) -> tuple[Path, Path]:
    """Write FOLDER/m.keras and FOLDER/d.npz; return their paths."""
    from pipeline.tfenv import keras

    k = keras()
    inp = k.Input((4,), name="x")
    model = k.Model(inp, k.layers.Dense(2, name="y")(k.layers.Dense(8, activation="gelu")(inp)))
    model.save(folder / "m.keras")
    rng = np.random.default_rng(SEED)
    np.savez(folder / "d.npz", x=rng.normal(size=(SAMPLES, 4)).astype(np.float32),
             y=rng.normal(size=(SAMPLES, 2)).astype(np.float32))
    return folder / "m.keras", folder / "d.npz"


def build_args(inputs: tuple[Path, Path], out: Path) -> list[str]:
    """`gelu-edge build` arguments for the tiny model into OUT."""
    model, data = inputs
    return ["build", "--model", str(model), "--data", str(data), "--out", str(out), *BUILD_ARGS]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under FOLDER (but the lock file, which holds the last writer's pid), by
    relative path."""
    from pipeline.lock import LOCK

    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK}
