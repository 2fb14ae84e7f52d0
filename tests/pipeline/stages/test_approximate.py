"""Stage approximate: the replaced model is saved, reloads to the same outputs, and a model
without GELU is built with a warning (the forms GELU takes: tests/pipeline/rewrites)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import NestedGelu

from pipeline.context import Context
from pipeline.inputs.data import Dataset
from pipeline.inputs.models import save_model
from pipeline.progress import Quiet
from pipeline.records import ApproximateRecord
from pipeline.stages.approximate import Options, load_rewritten, run
from pipeline.tfenv import keras

k = keras()
RNG = np.random.default_rng(0)
# Replacing GELU with `lut` (exact GELU again) must not change a float32 model beyond rounding.
SAME_MODEL_TOL = 1e-5


def _context(out: Path, x: np.ndarray) -> Context:
    data = Dataset(path=out / "d.npz", x_train=None, y_train=None, x_eval=x, y_eval=None,
                   x_calib=x)
    return Context(out=out, data=data)


def test_replaced_model_saves_loads_and_keeps_weights(tmp_path: Path) -> None:
    inp = k.Input((6,))
    model = k.Model(inp, NestedGelu(name="block")(inp))
    save_model(model, tmp_path / "model_float.keras")
    x = RNG.standard_normal((32, 6)).astype(np.float32)
    reporter = Quiet()
    ctx = _context(tmp_path, x)
    result = run(ctx, Options(approx="sigmoid"), reporter)
    assert result.replaced == 1 and result.sites[0].path == "block/inner.activation"
    # The float reference is left as it was; the replaced model is the reloaded file.
    np.testing.assert_allclose(ctx.reference().predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=SAME_MODEL_TOL)
    reloaded = load_rewritten(tmp_path / "model_approx.keras", ApproximateRecord.load(tmp_path))
    np.testing.assert_allclose(reloaded.predict(x, verbose=0),
                               ctx.approx_model.predict(x, verbose=0), atol=SAME_MODEL_TOL)
    assert not np.allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                           atol=1e-4)
    assert any("replaced 1 GELU" in m for m in reporter.infos)


def test_model_without_gelu_warns(tmp_path: Path) -> None:
    inp = k.Input((6,))
    save_model(k.Model(inp, k.layers.Dense(2, activation="relu")(inp)),
               tmp_path / "model_float.keras")
    reporter = Quiet()
    result = run(_context(tmp_path, np.zeros((4, 6), np.float32)),
                 Options(approx="sigmoid", source="my_model.keras"), reporter)
    assert result.replaced == 0
    # The warning names the user's file, not the build's copy of it.
    assert any(w.startswith("my_model.keras: no GELU found") for w in reporter.warnings)
    assert (tmp_path / "model_approx.keras").is_file()
