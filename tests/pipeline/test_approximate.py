"""Stage approximate: the replaced model is saved, reloads to the same outputs, and a model
without GELU is built with a warning (the forms GELU takes: tests/pipeline/rewrites)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.approximate import run
from pipeline.progress import Quiet
from pipeline.tfenv import keras

k = keras()
RNG = np.random.default_rng(0)
# Replacing GELU with `lut` (exact GELU again) must not change a float32 model beyond rounding.
SAME_MODEL_TOL = 1e-5


@k.saving.register_keras_serializable(package="tests")
class Block(k.layers.Layer):
    """A custom layer with a GELU Dense nested inside."""

    def __init__(self, units: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.inner = k.layers.Dense(units, activation="gelu", name="inner")

    def call(self, x):
        return self.inner(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


def test_replaced_model_saves_loads_and_keeps_weights(tmp_path: Path) -> None:
    inp = k.Input((6,))
    model = k.Model(inp, Block(name="block")(inp))
    model.save(tmp_path / "model_float.keras")
    x = RNG.standard_normal((32, 6)).astype(np.float32)
    reporter = Quiet()
    result = run(tmp_path, tmp_path / "model_float.keras", "lut", x, reporter)
    assert result.replaced == 1 and result.sites[0].path == "block/inner.activation"
    reloaded = k.saving.load_model(tmp_path / "model_approx.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=SAME_MODEL_TOL)
    assert any("replaced 1 GELU" in m for m in reporter.infos)


def test_model_without_gelu_warns(tmp_path: Path) -> None:
    inp = k.Input((6,))
    k.Model(inp, k.layers.Dense(2, activation="relu")(inp)).save(tmp_path / "model_float.keras")
    reporter = Quiet()
    result = run(tmp_path, tmp_path / "model_float.keras", "sigmoid",
                 np.zeros((4, 6), np.float32), reporter, source="my_model.keras")
    assert result.replaced == 0
    # The warning names the user's file, not the build's copy of it.
    assert any(w.startswith("my_model.keras: no GELU found") for w in reporter.warnings)
    assert (tmp_path / "model_approx.keras").is_file()
