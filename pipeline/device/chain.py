"""A coral chain (segments.json) run against model.tflite's outputs on the same samples and
runtime, output code by output code: the convert stage checks a few samples here, parity every
evaluation sample here, or (`--on`) as many of the device's as its budget leaves, on the
device."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import artifacts
from pipeline.device import edge_client
from pipeline.device.places import Place
from pipeline.inputs import batch as batches
from pipeline.progress import Reporter
from pipeline.records.segments import ChainCheck


def compare(out: Path, whole: dict[str, np.ndarray], x: batches.Inputs, runtime: str,
            reporter: Reporter, place: Place = edge_client.LOCAL,
            timeout: float = edge_client.DEFAULT_TIMEOUT_S) -> ChainCheck:
    """The chain in build folder `out` run on `x` where `place` says, against model.tflite's
    arrays on the same samples and place (`whole`, as the runner gives them)."""
    chained = edge_client.chain(out / artifacts.SEGMENTS_JSON, x, runtime, reporter, timeout,
                                place)
    diffs = [np.max(np.abs(whole[k][:batches.count(x)].astype(np.float64)
                           - chained[k].astype(np.float64)))
             for k in whole if k.startswith("y_raw") and k in chained]
    worst = float(max(diffs)) if diffs else 0.0
    return ChainCheck(runtime=runtime, samples=batches.count(x), equal=worst == 0.0,
                      max_code_diff=worst, where=place.name)
