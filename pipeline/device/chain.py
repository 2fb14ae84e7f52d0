"""A coral chain (segments.json) run here against model.tflite's outputs on the same samples,
output code by output code: the convert stage checks a few samples, parity every evaluation
sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import artifacts
from pipeline.device import edge_client
from pipeline.inputs import batch as batches
from pipeline.progress import Reporter
from pipeline.records.segments import ChainCheck


def compare(out: Path, whole: dict[str, np.ndarray], x: batches.Inputs, runtime: str,
            reporter: Reporter) -> ChainCheck:
    """The chain in build folder `out` run on `x`, against model.tflite's arrays on the same
    samples (`whole`, as the runner gives them)."""
    chained = edge_client.chain(out / artifacts.SEGMENTS_JSON, x, runtime, reporter)
    diffs = [np.max(np.abs(whole[k].astype(np.float64) - chained[k].astype(np.float64)))
             for k in whole if k.startswith("y_raw") and k in chained]
    worst = float(max(diffs)) if diffs else 0.0
    return ChainCheck(runtime=runtime, samples=batches.count(x), equal=worst == 0.0,
                      max_code_diff=worst)
