"""Smoothing for int8 matrix ops: exact in float, and lower int8 error where an input has
outlier channels (planted here, as a transformer's residual stream has them)."""

from __future__ import annotations

import numpy as np

from pipeline.progress import Quiet
from pipeline.tfenv import keras
from pipeline.tflite import hybrid, smooth
from pipeline.tflite.converter import convert_model

FEATURES, HIDDEN, SAMPLES = 32, 64, 64
OUTLIERS, OUTLIER_SCALE = (3, 17), 60.0
FLOAT_TOL = 1e-5  # relative: the transform only moves a factor between input and weights
# The emulated int8 error of the smoothed input must drop at least this much, and the real
# dynamic-range model's output error power at least REAL_GAIN.
EMULATED_GAIN, REAL_GAIN = 3.0, 2.0


def _data() -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    x[:, OUTLIERS] *= OUTLIER_SCALE
    return x


def _float_model() -> bytes:
    k = keras()
    inp = k.Input((FEATURES,))
    model = k.Model(inp, k.layers.Dense(8)(k.layers.Dense(HIDDEN, activation="gelu")(inp)))
    rng = np.random.default_rng(1)
    for layer in model.layers[1:]:
        kernel, bias = layer.get_weights()
        layer.set_weights([rng.normal(size=kernel.shape).astype(np.float32) * 0.2, bias])
    return convert_model(model, "none", _data(), 1, Quiet())


def _run(data: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    ys = []
    for row in x:
        it.set_tensor(inp, row[None])
        it.invoke()
        ys.append(it.get_tensor(out)[0].copy())
    return np.stack(ys)


def test_smoothing_is_exact_in_float_and_lowers_the_int8_error() -> None:
    data, x = _float_model(), _data()
    sites, factors = smooth.choose(data, x, "litert", Quiet())
    # the model's input, with the outliers (the second Dense reads HIDDEN channels)
    site = next(s for s in sites if len(factors[s.tensor]) == FEATURES)
    assert site.error_before / site.error_after >= EMULATED_GAIN, site
    assert np.argsort(factors[site.tensor])[-2:].tolist() == sorted(OUTLIERS)
    smoothed = smooth.apply(data, factors)
    ref, got = _run(data, x), _run(smoothed, x)
    assert np.max(np.abs(got - ref)) <= FLOAT_TOL * np.max(np.abs(ref))
    assert all(v.float_max_rel <= FLOAT_TOL for v in smooth.verify(data, smoothed, sites, x))

    recipe = hybrid.recipe("CHANNELWISE")
    plain = _run(hybrid.quantize(data, recipe), x)
    better = _run(hybrid.quantize(smoothed, recipe), x)
    error = lambda y: float(np.mean((y - ref) ** 2))  # noqa: E731
    assert error(plain) / error(better) >= REAL_GAIN, (error(plain), error(better))


def test_a_model_without_outliers_may_stay_as_it_is() -> None:
    """No smoothing is always a candidate: a site is kept only where it lowers the error."""
    data = _float_model()
    x = np.random.default_rng(2).normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    sites, factors = smooth.choose(data, x, "litert", Quiet())
    assert all(s.error_after < s.error_before for s in sites)
    assert set(factors) == {s.tensor for s in sites}
