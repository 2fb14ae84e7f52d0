"""What a task is: how a model's outputs are scored against labels, which way is better, how it
is trained, and how its outputs are plotted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Task:
    """A kind of model output, recognised from its labels."""

    name: str
    metric: str  # the task metric's name in reports
    higher_is_better: bool
    score: Callable[[np.ndarray, np.ndarray], float]  # (labels, predictions) -> metric
    loss: Callable[[Any, bool], Any]  # (keras, outputs are probabilities) -> a Keras loss
    agreement: Callable[[np.ndarray, np.ndarray], float] | None  # (float, quantized) -> share
    scatter_plot: bool  # predicted vs reference makes sense for its outputs
    labels: Callable[[np.ndarray], bool]  # does this label array belong to the task?

    def better(self, old: float, new: float, tolerance: float) -> bool | None:
        """True if `new` is better than `old` beyond `tolerance`, False if worse beyond it,
        None within it."""
        change = (new - old) if self.higher_is_better else (old - new)
        if change > tolerance:
            return True
        if change < -tolerance:
            return False
        return None
