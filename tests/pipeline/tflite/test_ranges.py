"""Calibration methods (`--calibration-method`): each method's pick on known histograms, the
parsing of the option, and auto's choice on a real calibrated model."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import UserError
from pipeline.tflite import ranges
from pipeline.tflite.ranges import minmax, mse, percentile

BINS = 2048
DENSE = 10_000_000  # values spread evenly over [-1, 1]
OUTLIER = 100.0  # one value far out


def _histogram(outlier: float | None) -> tuple[np.ndarray, float, float]:
    """Counts over BINS equal bins on [lo, hi]: DENSE values on [-1, 1], one at `outlier`."""
    lo, hi = -1.0, outlier if outlier is not None else 1.0
    centres = lo + (np.arange(BINS) + 0.5) * (hi - lo) / BINS
    inside = np.abs(centres) <= 1.0
    counts = np.where(inside, DENSE // inside.sum(), 0)
    if outlier is not None:
        counts[-1] += 1
    return counts, lo, hi


def test_minmax_keeps_the_recorded_range() -> None:
    counts, lo, hi = _histogram(OUTLIER)
    assert minmax.pick(counts, lo, hi, None) == (lo, hi)


def test_percentile_clips_a_rare_outlier_and_keeps_zero() -> None:
    counts, lo, hi = _histogram(OUTLIER)
    low, high = percentile.pick(counts, lo, hi, percentile.DEFAULT_P)
    assert high < 1.2 and low == pytest.approx(-1.0, abs=0.1)
    assert percentile.pick(counts, lo, hi, 100.0)[1] == pytest.approx(hi)
    positive = np.ones(BINS)
    assert percentile.pick(positive, 2.0, 10.0, 99.0)[0] == 0.0  # 0 stays representable


def test_mse_clips_an_outlier_worth_less_than_the_rounding_it_costs() -> None:
    counts, lo, hi = _histogram(OUTLIER)
    low, high = mse.pick(counts, lo, hi, None)
    # The full range's int8 step (101/255) costs DENSE * step^2 / 12 ~ 1.3e5 in squared error;
    # clipping the single outlier a few units up costs under 1e4.
    assert high < OUTLIER / 10 and low <= -0.9


def test_mse_keeps_the_range_of_evenly_spread_values() -> None:
    counts, lo, hi = _histogram(None)
    low, high = mse.pick(counts, lo, hi, None)
    assert high >= 0.95 and low <= -0.95


@pytest.mark.parametrize("spec, expected", [
    ("minmax", ("minmax", None)), ("mse", ("mse", None)),
    ("percentile", ("percentile", percentile.DEFAULT_P)), ("percentile:99.9", ("percentile", 99.9)),
    ("auto", (None, None)),
])
def test_parse(spec, expected) -> None:
    method, parameter = ranges.parse(spec)
    assert (method.name if method else None, parameter) == expected


@pytest.mark.parametrize("spec, says", [
    ("kl", "unknown calibration method"), ("mse:3", "takes no parameter"),
    ("percentile:abc", "is not a number"), ("percentile:40", "must be in (50, 100]"),
])
def test_parse_refuses_in_one_line(spec, says) -> None:
    with pytest.raises(UserError, match=says.replace("(", r"\(").replace("]", r"\]")):
        ranges.parse(spec)


def test_auto_keeps_the_method_with_the_best_held_back_snr() -> None:
    from pipeline.progress import Quiet
    from pipeline.tfenv import keras
    from pipeline.tflite import graph as tflite_graph
    from pipeline.tflite.converter import full_integer

    k = keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype(np.float32)
    x[::32, 0] = 60.0  # a rare outlier input stretches min/max
    inp = k.Input((8,))
    model = k.Model(inp, k.layers.Dense(4)(k.layers.Dense(16, activation="relu")(inp)))
    _, calibrated, calibration, chosen = full_integer(model, "int8", x, 1, "auto", Quiet())
    scores = {t.method: t.snr_db for t in calibration.trials}
    assert set(scores) == {"minmax", "percentile:99.99", "mse"}
    assert calibration.requested == "auto" and calibration.held_back >= 16
    assert scores[calibration.method] == max(s for s in scores.values() if s is not None)
    if calibration.method != "minmax":  # a histogram method moved some ranges
        assert chosen and calibration.changed
    # The output keeps its min/max (clipping it would saturate the largest outputs); the
    # other tensors take the method's range.
    _, calibrated, _, chosen = full_integer(model, "int8", x, 1, "mse", Quiet())
    outputs = tflite_graph.parse(calibrated.data).outputs
    assert chosen and outputs and not set(outputs) & set(chosen)
