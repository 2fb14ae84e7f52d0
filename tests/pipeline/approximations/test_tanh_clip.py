"""tanh-clip loads on tflite-runtime 2.14 whatever range the calibration covers: a branch the
calibration never reaches must not get a degenerate int8 range (2.14's SUB aborts on it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import approximations
from pipeline.approximations.measure import single_op_model
from pipeline.device.edge_client import load_check

SHAPE = (1, 64)


# Inside the clip on both sides, past it on one side only: the ranges the old formulation,
# x - relu(x - 4) + relu(-x - 4), aborted tflite-runtime 2.14 on.
@pytest.mark.parametrize("lo, hi", [(-1.0, 1.0), (0.0, 8.0), (-8.0, 0.0)])
def test_loads_on_tflite_runtime_when_calibration_never_passes_the_clip(
        tmp_path: Path, lo: float, hi: float) -> None:
    model = tmp_path / "tanh_clip.tflite"
    model.write_bytes(single_op_model(approximations.get("tanh-clip"), SHAPE, lo, hi))
    ok, message = load_check(model, "tflite-runtime")
    assert ok, message
