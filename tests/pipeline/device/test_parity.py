"""Parity off this machine with places whose behaviour is known (tests/fake_places.py): the
budget with a known invoke time, a device slower than its probe, and a difference put into one
op of the model the device runs, localised to that op."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fake_places import NAME, FakeDevice, perturb_bias, use
from helpers import read_json

from pipeline.device import budget

INVOKE_S = 0.02  # the fake device's time per invoke
BUDGET_S = 8.0
# Process starts and the host's own share vary with the machine's load: the device part may
# overrun its budget by this much (each runner runs one sample past its deadline at most).
OVERRUN_S = 4.0
PERTURBED_OP = 0  # the demo's first FULLY_CONNECTED; the GELU and the output FC follow


@pytest.fixture
def out(demo_copy: Path) -> Path:
    return demo_copy


def test_the_budget_follows_the_measured_invoke_time(cli, monkeypatch, out: Path) -> None:
    use(monkeypatch, FakeDevice(invoke_s=INVOKE_S))
    start = time.monotonic()
    r = cli("parity", "--out", out, "--on", NAME, "--device-budget", f"{BUDGET_S:g}s")
    assert r.code == 0, r
    assert time.monotonic() - start < 60
    cmp = read_json(out / "parity.json")["device_vs_host"]
    b = cmp["budget"]
    assert b["device_invoke_s"] == pytest.approx(INVOKE_S, abs=0.015)
    assert (b["limited_by"], b["processes"], b["budget_s"]) == ("budget", 2, BUDGET_S)
    # Two runners at 0.02 s: about 100 inputs per second of what is left after the starts.
    assert 50 < b["planned_samples"] < 2 * BUDGET_S / INVOKE_S
    assert b["ran_samples"] == cmp["samples"] == read_json(out / "parity.json")["samples"]
    assert b["spent_s"] < BUDGET_S + OVERRUN_S
    assert cmp["differing_outputs"] == 0 and cmp["divergence"] is None  # the same machine
    assert cmp["bound"]["method"] == "rule of three"
    assert cmp["bound"]["high"] == pytest.approx(3 / cmp["samples"])


def test_a_device_slower_than_its_probe_stops_at_the_budget(cli, monkeypatch, out: Path
                                                            ) -> None:
    use(monkeypatch, FakeDevice(invoke_s=0.05, slow=("run",)))  # the probe sees full speed
    r = cli("parity", "--out", out, "--on", NAME, "--device-budget", f"{BUDGET_S:g}s")
    assert r.code == 0, r
    assert "ran out after" in r.err
    parity = read_json(out / "parity.json")
    b = parity["device_vs_host"]["budget"]
    assert b["planned_samples"] == budget.MAX_COMPARE_SAMPLES
    assert 0 < b["ran_samples"] < b["planned_samples"]
    assert parity["samples"] == min(1000, b["ran_samples"]) == len(
        __import__("numpy").load(out / "parity_samples.npz")["y_quantized"])
    assert b["spent_s"] < BUDGET_S + OVERRUN_S


@pytest.mark.parametrize("in_reference", [True, False])
def test_a_difference_in_one_op_is_localised_to_it(cli, monkeypatch, out: Path, tmp_path: Path,
                                                  in_reference: bool) -> None:
    perturbed = perturb_bias(out / "model.tflite", tmp_path / "device.tflite", PERTURBED_OP, 3)
    use(monkeypatch, FakeDevice(model=perturbed, perturb_reference=in_reference))
    r = cli("parity", "--out", out, "--on", NAME, "--compare-samples", "64", "--samples", "64")
    assert r.code in (0, 1), r  # the gate judges the device's outputs: the shifted op may fail it
    cmp = read_json(out / "parity.json")["device_vs_host"]
    assert cmp["differing_samples"] > 0 and cmp["bound"]["method"] == "Wilson score"
    d = cmp["divergence"]
    first = d["first"]
    assert (first["op_index"], first["op"], first["unit"]) == (PERTURBED_OP, "FULLY_CONNECTED",
                                                               "LSB")
    assert 2 <= first["max_diff"] <= 4 and first["differing"] > 0
    assert [row["op"] for row in d["growth"]] == ["FULLY_CONNECTED", "GELU", "FULLY_CONNECTED"]
    assert d["traced_matches_run"] and d["sample"] == cmp["first_difference"]["sample"]
    ref = d["reference"]
    if in_reference:  # the model itself differs: the reference kernels cannot clear it
        assert not ref["agree"] and ref["first"]["op_index"] == PERTURBED_OP
        assert "still differ" in d["verdict"]
    else:
        assert ref["agree"] and "compute that op differently" in d["verdict"]
    # Replayed in integer arithmetic with this machine's model: one rounding gives this
    # machine's output, none the device's (its bias differs, not its rounding).
    rounding = d["rounding"]
    assert rounding["op_index"] == PERTURBED_OP and rounding["device"] == []
    assert len(rounding["host"]) >= 1 and "some other way" in d["verdict"]
    r = cli("report", "--out", out)
    text = (out / "parity.md").read_text()
    assert "## Where the device and this machine part ways" in text
    assert f"First op that differs: op {PERTURBED_OP} FULLY_CONNECTED" in text
    assert f"Rounding replay of op {PERTURBED_OP} FULLY_CONNECTED" in text
    assert (out / "plots" / "device_divergence.png").is_file()


@pytest.mark.parametrize("value", ["soon", "0", "-5m"])
def test_a_bad_budget_is_one_line_exit_2(cli, out: Path, value: str) -> None:
    r = cli("parity", "--out", out, "--on", "emulated-pi", "--device-budget", value)
    assert r.code == 2 and "--device-budget" in r.err and len(r.err.strip().splitlines()) == 1, r
