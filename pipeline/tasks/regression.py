"""`regression`: float labels; mean absolute error."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.tasks.base import Task


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y_pred, np.float64)
                                - np.asarray(y_true, np.float64).reshape(np.shape(y_pred)))))


def _loss(keras: Any, probabilities: bool) -> Any:
    return keras.losses.MeanSquaredError()


TASK = Task(name="regression", metric="mae", higher_is_better=False, score=mae, loss=_loss,
            agreement=None, scatter_plot=True,
            labels=lambda y: bool(np.issubdtype(y.dtype, np.floating)))
