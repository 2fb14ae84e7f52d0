"""The float outputs computed beside the converter: the same arrays parity would compute, given
only for the samples asked, and stopped on demand. (Thresholds lowered so that a tiny model
takes the XLA path that big models take.)"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from pipeline.context import Context
from pipeline.inputs import signature as sig
from pipeline.inputs.data import Dataset
from pipeline.stages.parity import prefetch

SAMPLES = 40
# XLA and Keras' predict may order float sums differently.
FLOAT_TOL = 1e-5


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    from pipeline.tfenv import keras

    k = keras()
    monkeypatch.setattr(sig, "XLA_MIN_PARAMETERS", 0)
    monkeypatch.setattr(sig, "XLA_MIN_SAMPLES", 1)
    monkeypatch.setattr(sig, "XLA_BATCH", 16)  # several batches, the last one padded
    inp = k.Input((6,))
    reference = k.Model(inp, k.layers.Dense(3)(k.layers.Dense(8, activation="gelu")(inp)))
    replaced = k.Model(inp, k.layers.Dense(3)(k.layers.Dense(8, activation="relu")(inp)))
    x = np.random.default_rng(0).standard_normal((SAMPLES, 6)).astype(np.float32)
    data = Dataset(path=tmp_path / "d.npz", x_train=None, y_train=None, x_eval=x, y_eval=None,
                   x_calib=x)
    return Context(out=tmp_path, data=data, float_model=reference, approx_model=replaced)


def test_prefetched_outputs_are_what_predict_gives(ctx: Context) -> None:
    found = prefetch.start(ctx, None)
    assert found is not None
    got = found.take(SAMPLES)
    assert got is not None
    for model, outputs in zip((ctx.float_model, ctx.approx_model), got):
        want = model.predict(ctx.data.x_eval, verbose=0)
        np.testing.assert_allclose(outputs[0], want, atol=FLOAT_TOL)


def test_other_samples_are_not_served(ctx: Context) -> None:
    found = prefetch.start(ctx, 10)
    assert found is not None and found.take(SAMPLES) is None


def test_a_stop_ends_an_xla_predict_and_the_prefetch_gives_nothing(ctx: Context) -> None:
    stop = threading.Event()
    stop.set()
    model = ctx.float_model
    with pytest.raises(sig.PredictStopped):
        sig.describe(model).predict(model, ctx.data.x_eval, stop=stop)
    failed: Future = Future()
    failed.set_exception(sig.PredictStopped())
    assert prefetch.Prefetch(SAMPLES, failed, stop).take(SAMPLES) is None


def test_small_models_are_not_prefetched(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sig, "XLA_MIN_PARAMETERS", 10**9)
    assert prefetch.start(ctx, None) is None
