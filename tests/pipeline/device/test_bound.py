"""What N compared samples prove: the rule of three with no difference, the Wilson interval
with some."""

from __future__ import annotations

import math

import pytest

from pipeline.device.bound import bound, rule_of_three, wilson

# Published Wilson 95 % intervals (e.g. Newcombe 1998, Table I; Brown, Cai & DasGupta 2001)
# are given to 4 decimals.
INTERVAL_TOLERANCE = 1e-4


def test_no_difference_is_bounded_by_three_over_n() -> None:
    b = bound(0, 300)
    assert (b.differing, b.rate, b.low, b.method) == (0, 0.0, 0.0, "rule of three")
    assert b.high == pytest.approx(0.01) and b.confidence == 0.95
    # The rule of three is the exact one-sided 95 % bound, 1 - 0.05^(1/n), rounded up.
    assert rule_of_three(300) >= 1 - 0.05 ** (1 / 300)
    assert rule_of_three(2) == 1.0


@pytest.mark.parametrize("k, n, low, high", [
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (1, 100, 0.0018, 0.0545),
])
def test_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=INTERVAL_TOLERANCE)
    assert hi == pytest.approx(high, abs=INTERVAL_TOLERANCE)
    assert lo <= k / n <= hi


def test_differences_give_rate_and_interval() -> None:
    b = bound(97, 100)
    assert b.method == "Wilson score" and b.rate == 0.97 and b.low < 0.97 < b.high <= 1.0
    assert not math.isnan(b.low)


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError):
        bound(0, 0)
