"""Helpers shared by tests (importable because conftest puts tests/ on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BYTES_CHANGED = 5  # bytes a seeded corruption changes (tests and benchmarks/corruption.py)


def corrupt(path: Path, seed: int) -> None:
    """Change BYTES_CHANGED bytes of `path` at seeded random places, each to another value."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(data), BYTES_CHANGED, replace=False):
        data[i] = (data[i] + int(rng.integers(1, 256))) % 256
    path.write_bytes(bytes(data))


def save_data(path: Path, x: np.ndarray, y: np.ndarray, n_train: int, n_eval: int) -> Path:
    """Write a data file in the project's format from one x/y pool."""
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train],
             x_eval=x[n_train:n_train + n_eval], y_eval=y[n_train:n_train + n_eval],
             x_calib=x[n_train + n_eval:])
    return path


def read_json(path: Path) -> dict:
    """Parse a JSON artifact."""
    return json.loads(path.read_text())


def float_input(sample_shape: tuple[int, ...], name: str = "x") -> list:
    """The signature inputs of a one-input float model with this sample shape."""
    from pipeline.inputs.signature import TensorInfo

    return [TensorInfo(name, (None, *sample_shape), "float32")]


TINY_TRANSFORMER_SAMPLES = 48


def tiny_transformer(folder: Path) -> tuple[Path, Path]:
    """An attention block with layer norm and a GELU feed-forward layer, saved as t.keras, and
    TINY_TRANSFORMER_SAMPLES random inputs as t.npz: (model, data)."""
    from pipeline.tfenv import keras

    k = keras()
    inp = k.Input((6, 16), name="x")
    x = k.layers.LayerNormalization(name="ln")(inp + k.layers.MultiHeadAttention(
        2, 8, name="mha")(inp, inp))
    y = k.layers.Dense(4, name="out")(k.layers.Dense(32, activation="gelu", name="up")(x))
    k.Model(inp, y).save(folder / "t.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "t.npz",
             x=rng.normal(size=(TINY_TRANSFORMER_SAMPLES, 6, 16)).astype(np.float32))
    return folder / "t.keras", folder / "t.npz"


def _nested_gelu_class():
    from pipeline.tfenv import keras

    k = keras()

    @k.saving.register_keras_serializable(package="tests")
    class NestedGelu(k.layers.Layer):
        """A custom layer with a GELU Dense nested inside (named `inner`)."""

        def __init__(self, units: int = 8, **kwargs) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.inner = k.layers.Dense(units, activation="gelu", name="inner")

        def call(self, x):
            return self.inner(x)

        def get_config(self) -> dict:
            return {**super().get_config(), "units": self.units}

    return NestedGelu


NestedGelu = _nested_gelu_class()
