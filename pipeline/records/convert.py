"""convert.json: the converted model's ops, inputs and outputs, and the graph checks."""

from __future__ import annotations

from typing import ClassVar

from pydantic import computed_field

from pipeline.records.base import Model, Record


class CheckResult(Model):
    """Outcome of one graph check."""

    name: str
    passed: bool
    message: str


class IOTensor(Model):
    """A model input or output as the converted model has it."""

    name: str  # the Keras model's name for it
    dtype: str  # TFLite type: INT8, INT32, FLOAT32, ...
    shape: list[int]
    scale: float | None  # None: not quantized (integer inputs such as token ids, or float)
    zero_point: int | None


class ConvertRecord(Record):
    """What the convert stage did."""

    FILE: ClassVar[str] = "convert.json"
    STAGE: ClassVar[str] = "convert"

    quantize: str
    approx: str
    batch: int
    calibration_samples: int
    ops: dict[str, int]
    op_versions: dict[str, int]
    min_runtime_version: str | None
    checks: list[CheckResult]
    inputs: list[IOTensor]
    outputs: list[IOTensor]
    tflite_bytes: int
    parameters: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """True when every graph check passed."""
        return all(c.passed for c in self.checks)
