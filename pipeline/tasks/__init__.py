"""Registry of tasks, looked up by name or recognised from labels: integer labels are
classification, float labels regression."""

from __future__ import annotations

import numpy as np

from pipeline.errors import UserError
from pipeline.tasks import classification, regression
from pipeline.tasks.base import Task

TASKS: dict[str, Task] = {t.name: t for t in (classification.TASK, regression.TASK)}


def get(name: str) -> Task:
    """A task by name; unknown names are a UserError."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None


def of(labels: np.ndarray) -> Task:
    """The task whose labels these are."""
    for task in TASKS.values():
        if task.labels(labels):
            return task
    raise UserError(f"labels of dtype {labels.dtype} fit no task ({', '.join(TASKS)})")


__all__ = ["Task", "TASKS", "get", "of"]
