"""The report's device section: the rounding replay of the first differing op, one line with
the modes that give each side's output."""

from __future__ import annotations

from pipeline.records.parity import Divergence, OpDifference, RoundingReplay
from pipeline.stages.report.device import _divergence

FIRST = OpDifference(op_index=0, op="FULLY_CONNECTED", layer="dense", tensor=3,
                     tensor_name="m/dense/MatMul", dtype="INT8", elements=8, differing=1,
                     max_diff=1.0, unit="LSB")


def _texts(rounding: RoundingReplay | None) -> list[str]:
    d = Divergence(sample=3, first=FIRST, growth=[FIRST], traced_matches_run=True,
                   rounding=rounding, verdict="They differ.")
    return [b.text for b in _divergence(d) if b.kind == "p"]


def test_the_rounding_replay_names_the_modes_per_side() -> None:
    texts = _texts(RoundingReplay(op_index=0, values=8, device=["up, twice"],
                                  host=["up, once", "away"]))
    line = next(t for t in texts if t.startswith("**Rounding replay"))
    assert "op 0 FULLY_CONNECTED" in line and "8 values" in line
    assert "device: up, twice; this machine: up, once or away." in line


def test_a_side_no_mode_matched_says_so_and_no_replay_no_line() -> None:
    texts = _texts(RoundingReplay(op_index=0, values=8, device=[], host=["up, once"]))
    assert any("device: no mode tried gives its output exactly; this machine: up, once." in t
               for t in texts)
    assert not any("Rounding replay" in t for t in _texts(None))
