"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline import tasks
from pipeline.gate import metrics


def test_metrics_known_values() -> None:
    ref = np.array([1.0, -2.0, 3.0, 0.0])
    test = np.array([1.5, -2.0, 2.0, 0.0])
    m = metrics.compare(ref, test, 0.25)
    assert m.max_abs_error == 1.0
    assert m.mean_abs_error == pytest.approx(1.5 / 4)
    assert m.rmse == pytest.approx(math.sqrt(1.25 / 4))
    assert m.snr_db == pytest.approx(10 * math.log10(14 / 1.25))
    assert m.cosine == pytest.approx((1.5 + 4 + 6) / (math.sqrt(14) * math.sqrt(2.25 + 4 + 4)))
    assert m.max_error_lsb == 4.0


def test_identical_outputs_have_infinite_snr_and_no_lsb_for_float() -> None:
    ref = np.arange(5.0)
    m = metrics.compare(ref, ref.copy(), None)
    assert m.snr_db is None and m.max_error_lsb is None and m.max_abs_error == 0.0


def test_task_metrics() -> None:
    regression, classification = tasks.get("regression"), tasks.get("classification")
    assert regression.score(np.array([1.0, 2.0]), np.array([[1.5], [2.0]])) == 0.25
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert classification.score(np.array([0, 1, 1]), probs) == pytest.approx(2 / 3)
    assert classification.agreement(probs, probs[:, ::-1]) == 0.0
    assert tasks.of(np.array([1, 2])) is classification
    assert tasks.of(np.array([1.5])) is regression
    assert regression.better(0.2, 0.1, 0.05) and classification.better(0.9, 0.8, 0.05) is False
