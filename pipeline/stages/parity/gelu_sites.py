"""GELU sites in the report: for each replaced GELU, the input range calibration gives it, the
output scale of its tensor, and the approximation's int8 error in output LSB over that range
(a single-op model calibrated on that range, run on the target runtime in its own process)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import approximations
from pipeline.approximations import gelu_exact
from pipeline.approximations.measure import int8_error
from pipeline.inputs import batch
from pipeline.inputs.signature import describe
from pipeline.progress import Quiet, Reporter
from pipeline.records import Site
from pipeline.records.parity import GeluSiteRow
from pipeline.rewrites import keras_graph

CALIB_BATCH = 64
# Calibration samples the input ranges are recorded on: the range settles long before the
# whole calibration set (and a 22M-parameter model runs eagerly here).
RANGE_SAMPLES = 128
CURVE_POINTS = 401


def input_ranges(model: Any, sites: list[Site], x_calib: batch.Inputs
                 ) -> dict[str, tuple[float, float]]:
    """Site path -> (min, max) of the GELU's input over the calibration samples, recorded by
    wrapping each site's function in the replaced model while it runs eagerly."""
    signature = describe(model)
    ranges = [[np.inf, -np.inf] for _ in sites]

    def recorder(i: int, fn: Any) -> Any:
        def record(x: Any) -> Any:
            values = np.asarray(x)
            ranges[i] = [min(ranges[i][0], float(values.min())),
                         max(ranges[i][1], float(values.max()))]
            return fn(x)
        return record

    targets = [(keras_graph.layer_at(model, s.layer), s.attr) for s in sites]
    with keras_graph.wrapping(targets, recorder):
        for start in range(0, min(batch.count(x_calib), RANGE_SAMPLES), CALIB_BATCH):
            signature.call(model, batch.take(x_calib, slice(start, start + CALIB_BATCH)))
    return {s.path: (lo, hi) for s, (lo, hi) in zip(sites, ranges) if lo <= hi}


def analyse(model: Any, approx_name: str, sites: list[Site], x_calib: batch.Inputs,
            runtime: str, layer_scales: dict[str, float | None], reporter: Reporter
            ) -> tuple[list[GeluSiteRow], dict[str, np.ndarray]]:
    """(one row per site, curves for the plots: `s<i>_<name>` arrays), on the replaced model."""
    approx = approximations.get(approx_name)
    ranges = input_ranges(model, sites, x_calib)
    rows, curves = [], {}
    with reporter.task("GELU sites", len(ranges)) as advance:
        for i, (path, (lo, hi)) in enumerate(sorted(ranges.items())):
            if not lo < hi:
                hi = lo + 1e-3
            q = int8_error(approx, lo, hi, runtime, Quiet())
            layer = path.rsplit(".", 1)[0]
            rows.append(GeluSiteRow(site=path, layer=layer, input_range=(lo, hi),
                                    output_scale=layer_scales.get(layer) or q["output_scale"],
                                    approx_output_scale=q["output_scale"],
                                    int8_max_lsb=q["max_lsb"], int8_mean_lsb=q["mean_lsb"]))
            grid = np.linspace(lo, hi, CURVE_POINTS)
            curves.update({f"s{i}_x": grid, f"s{i}_exact": gelu_exact(grid),
                           f"s{i}_approx": np.asarray(approx.reference(grid), np.float64),
                           f"s{i}_int8_x": q["x"], f"s{i}_int8_y": q["y"]})
            advance(1)
    return rows, curves
