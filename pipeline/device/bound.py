"""What N compared samples prove about the rate of samples whose device and host outputs differ,
at 95 % confidence: with no difference, the rule of three (the rate is below 3/N; the exact
one-sided bound is 1 - 0.05^(1/N), about 2.996/N); with k differences, the rate k/N and its
Wilson score interval, which stays inside [0, 1] and is sound for small k, unlike k/N +- z
sqrt(k/N (1 - k/N) / N)."""

from __future__ import annotations

import math

from pipeline.records.parity import DifferenceBound

CONFIDENCE = 0.95
Z = 1.959963984540054  # the two-sided 95 % quantile of the normal distribution
RULE_OF_THREE = 3.0  # -ln(0.05) = 2.996, rounded up


def rule_of_three(n: int) -> float:
    """Upper 95 % bound on the rate of an event never seen in n trials."""
    return min(1.0, RULE_OF_THREE / n)


def wilson(k: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At k = 0 and k = n the interval ends at 0 and 1 exactly (rounding would miss by 1e-16).
    return (0.0 if k == 0 else max(0.0, centre - half),
            1.0 if k == n else min(1.0, centre + half))


def bound(differing: int, samples: int) -> DifferenceBound:
    """The rate of differing samples and its 95 % interval (upper bound 3/N when none)."""
    if samples <= 0:
        raise ValueError("no samples compared")
    if differing == 0:
        return DifferenceBound(samples=samples, differing=0, rate=0.0, low=0.0,
                               high=rule_of_three(samples), method="rule of three",
                               confidence=CONFIDENCE)
    low, high = wilson(differing, samples)
    return DifferenceBound(samples=samples, differing=differing, rate=differing / samples,
                           low=low, high=high, method="Wilson score", confidence=CONFIDENCE)
