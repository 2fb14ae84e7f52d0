"""--device-budget: the durations it takes, and the sample counts it gives for known costs."""

from __future__ import annotations

import pytest

from pipeline.device import budget
from pipeline.device.budget import Costs, parse_duration, plan
from pipeline.errors import UserError

# MiniLM under QEMU as measured here: 1.34 s per invoke on the emulated Cortex-A72, 4 s to
# start a runner there; 60 ms per invoke and 1 s per start on x86_64.
MINILM = Costs(device_invoke_s=1.34, device_start_s=4.0, host_invoke_s=0.06, host_start_s=1.0,
               processes=2, host_processes=2)


@pytest.mark.parametrize("text, seconds", [("300", 300), ("300s", 300), ("5m", 300),
                                           ("1m30s", 90), ("1h", 3600), ("2.5m", 150),
                                           (" 10M ", 600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-3", "0", "0s", "m", "1x", "5m5m"])
def test_bad_durations_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="--device-budget"):
        parse_duration(text)


def test_the_budget_sets_both_counts() -> None:
    p = plan(MINILM, budget_s=300, spent_s=10, eval_available=600, compare_available=1200)
    per_sample = 1.34 / 2 + 0.06 / 2
    left = 300 - 10 - 4 - 1 - MINILM.localise_s()
    assert p.compare_samples == int(left // per_sample) == p.parity_samples
    assert p.limited_by == "budget"
    assert p.estimated_s == pytest.approx(300, abs=per_sample)
    # The device runners stop where their share ends: after the host's share and the reserve.
    assert p.device_deadline_s == pytest.approx(
        300 - 10 - (1 + p.compare_samples * 0.03) - MINILM.localise_s() - 4 - 1.34)


def test_one_runner_affords_about_half() -> None:
    one = Costs(**{**MINILM.__dict__, "processes": 1, "host_processes": 1})
    two = plan(MINILM, 300, 10, 600, 1200).compare_samples
    assert plan(one, 300, 10, 600, 1200).compare_samples == pytest.approx(two / 2, rel=0.1)


def test_fast_models_run_every_eval_sample_and_stop_at_the_cap() -> None:
    fast = Costs(1e-4, 3.0, 1e-5, 0.5, 2, 2)
    p = plan(fast, 300, 1, eval_available=1000, compare_available=6000)
    assert (p.parity_samples, p.compare_samples, p.limited_by) == \
        (1000, budget.MAX_COMPARE_SAMPLES, "cap")
    p = plan(fast, 300, 1, eval_available=100, compare_available=300)
    assert (p.parity_samples, p.compare_samples, p.limited_by) == (100, 300, "data")


def test_counts_given_override_the_budget() -> None:
    p = plan(MINILM, 300, 10, 600, 1200, samples=100, compare_samples=100)
    assert (p.parity_samples, p.compare_samples, p.limited_by) == (100, 100, "given")
    assert p.device_deadline_s is None  # counts given run in full
    p = plan(MINILM, 60, 10, 600, 1200, samples=500)
    assert (p.parity_samples, p.compare_samples) == (500, 500) and p.estimated_s > 60
    # Only --compare-samples: parity takes the eval samples among them (they run anyway).
    p = plan(MINILM, 300, 10, 600, 1200, compare_samples=1000)
    assert (p.parity_samples, p.compare_samples) == (600, 1000)


def test_a_budget_too_small_still_runs_one_input() -> None:
    p = plan(MINILM, 5, 4, 600, 1200)
    assert p.compare_samples == p.parity_samples == 1 and p.limited_by == "budget"
