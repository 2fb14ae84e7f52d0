"""What parity says when an output has no labels: why, by where the samples came from."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stages import parity as stage


@pytest.mark.parametrize("eval_split, says", [
    ("calibration", "--data not given"),
    ("x", "no labels for this output in --data"),  # an embedding's x-only data file
    ("eval", "no labels for this output in --data"),
])
def test_a_missing_task_metric_says_why(eval_split: str, says: str) -> None:
    y = np.zeros((4, 3), np.float32)
    result = stage._task(None, None, y, y, y, eval_split)
    assert result.metric is None and says in result.note
