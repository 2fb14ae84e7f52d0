"""`demo`: the classic Keras GELU example, Input(10) -> Dense(64, GELU) -> Dense(1), regression
on calibration_data/demo_regression.npz."""

from __future__ import annotations

from typing import Any

from pipeline.presets.base import DATA_DIR, Preset
from pipeline.tfenv import keras

HIDDEN_UNITS = 64


def build(sample_shape: tuple[int, ...], outputs: int) -> Any:
    """Input(features) -> Dense(64, 'gelu') -> Dense(outputs)."""
    k = keras()
    inputs = k.Input(sample_shape, name="x")
    hidden = k.layers.Dense(HIDDEN_UNITS, activation="gelu", name="hidden")(inputs)
    return k.Model(inputs, k.layers.Dense(outputs, name="y")(hidden), name="gelu_demo")


PRESET = Preset(name="demo", summary="MLP, Dense(64, GELU), regression on the demo data",
                data=DATA_DIR / "demo_regression.npz", task="regression", build=build,
                epochs=40, batch_size=64, learning_rate=3e-3)
