"""What a preset is: a model gelu-edge builds and trains itself, with its data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import calibration_data

DATA_DIR = calibration_data.folder()


@dataclass(frozen=True)
class Preset:
    """A built-in model: its data file, how to build it, how to train it."""

    name: str
    summary: str
    data: Path
    task: str  # "regression" or "classification"
    build: Callable[[tuple[int, ...], int], Any]  # (sample shape, outputs) -> Keras model
    epochs: int
    batch_size: int
    learning_rate: float
