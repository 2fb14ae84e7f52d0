"""`--sensitivity` quantizes from the build's plan: with no layer kept in float beyond the
plan's, it makes model.tflite itself, so its rows measure the shipped model's layers."""

from __future__ import annotations

import numpy as np

from pipeline import rewrites
from pipeline.records import ApproximateRecord
from pipeline.records.plan import QuantPlan
from pipeline.stages.parity import sensitivity
from pipeline.tflite import calibrate


def test_the_plan_without_extra_float_layers_is_the_shipped_model(cli, tmp_path) -> None:
    from tests import tiny

    inputs = tiny.save_inputs(tmp_path)
    out = tmp_path / "b"
    result = cli(*tiny.build_args(inputs, out), "--calibration-method", "percentile",
                 "--sensitivity", "1")
    assert result.code in (0, 1), result
    plan = QuantPlan.load(out)
    assert plan.ranges  # percentile moved ranges: min/max would not reproduce them
    model = rewrites.load(out / "model_approx.keras", ApproximateRecord.load(out))
    with np.load(inputs[1]) as d:
        x = d["x"]
    calibrated = sensitivity._calibrated(model, plan, x)
    same = calibrate.quantize(calibrated, plan.mode, dict(plan.ranges), plan.float_nodes or None)
    assert same == (out / "model.tflite").read_bytes()
    rows = __import__("json").loads((out / "parity.json").read_text())["sensitivity"]
    assert len(rows) == 1 and rows[0]["snr_db"] is not None, rows
