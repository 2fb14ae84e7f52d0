"""Registry of tasks, looked up by name or recognised from labels: integer labels are
classification, float labels regression."""

from __future__ import annotations

import numpy as np

from pipeline.errors import UserError
from pipeline.registry import Registry
from pipeline.tasks import classification, regression
from pipeline.tasks.base import Task

TASKS: Registry[Task] = Registry.of("task", (classification.TASK, regression.TASK))
get = TASKS.get  # unknown names are a UserError listing the choices
names = TASKS.names


def of(labels: np.ndarray) -> Task:
    """The task whose labels these are."""
    for task in TASKS.values():
        if task.labels(labels):
            return task
    raise UserError(f"labels of dtype {labels.dtype} fit no task ({', '.join(TASKS)})")


__all__ = ["Task", "TASKS", "get", "names", "of"]
