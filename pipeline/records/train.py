"""train.json: what stage 1 made or took (a trained preset, or the user's model)."""

from __future__ import annotations

from typing import ClassVar

from pipeline.records.base import Record


class TrainRecord(Record):
    """What the train stage did."""

    FILE: ClassVar[str] = "train.json"
    STAGE: ClassVar[str] = "train"

    source: str  # "demo", "preset:<name>", or the user's model file
    epochs: int
    seed: int
    eval_mae_float: float | None = None
    eval_mae_linear: float | None = None  # a least-squares fit's, the bar to beat
    preset: str | None = None
    eval_accuracy_float: float | None = None
    parameters: int = 0
    keras_bytes: int = 0  # size of model_float.keras
    seconds: float = 0.0  # how long the stage took

    @property
    def is_preset(self) -> bool:
        """True when gelu-edge trained the model itself."""
        return self.preset is not None
