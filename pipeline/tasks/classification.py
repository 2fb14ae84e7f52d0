"""`classification`: integer labels; accuracy (argmax), top-1 agreement with the float model."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.tasks.base import Task


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of samples whose argmax is the label."""
    return float(np.mean(np.argmax(y_pred, axis=-1) == np.asarray(y_true).reshape(-1)))


def top1_agreement(y_a: np.ndarray, y_b: np.ndarray) -> float:
    """Share of samples whose argmax class is the same in both outputs."""
    return float(np.mean(np.argmax(y_a, axis=-1) == np.argmax(y_b, axis=-1)))


def _loss(keras: Any, probabilities: bool) -> Any:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)


TASK = Task(name="classification", metric="accuracy", higher_is_better=True, score=accuracy,
            loss=_loss, agreement=top1_agreement, scatter_plot=False,
            labels=lambda y: bool(np.issubdtype(y.dtype, np.integer)))
