"""convert.json: the converted model's ops, inputs and outputs, and the graph checks."""

from __future__ import annotations

from typing import ClassVar

from pydantic import computed_field

from pipeline.records.base import Model, Record
from pipeline.records.plan import AttentionChoice, SmoothSite
from pipeline.records.segments import SegmentChain


class CheckResult(Model):
    """Outcome of one graph check. A failed check with severity "warning" is reported but does
    not fail the gate (a float island on a CPU target, for one)."""

    name: str
    passed: bool
    message: str
    severity: str = "error"  # "error" or "warning"

    @property
    def fails_gate(self) -> bool:
        """True when the check failed and counts."""
        return not self.passed and self.severity == "error"


class IOTensor(Model):
    """A model input or output as the converted model has it."""

    name: str  # the Keras model's name for it
    dtype: str  # TFLite type: INT8, INT32, FLOAT32, ...
    shape: list[int]
    scale: float | None  # None: not quantized (integer inputs such as token ids, or float)
    zero_point: int | None


class RangeChange(Model):
    """A tensor whose int8 range the calibration method moved away from min/max."""

    tensor: str
    layer: str
    recorded: tuple[float, float]  # min and max over the calibration samples
    chosen: tuple[float, float]


class MethodTrial(Model):
    """One calibration method tried by `auto` on the held-back calibration samples."""

    method: str
    snr_db: float | None  # the quantized outputs against float on the held-back samples


class Calibration(Model):
    """How the int8 ranges were chosen."""

    requested: str  # --calibration-method
    method: str  # what was used (auto's choice)
    held_back: int = 0  # calibration samples auto kept aside to compare methods
    trials: list[MethodTrial] = []
    changed: list[RangeChange] = []  # the largest moves, most moved first
    tensors: int = 0  # tensors whose range the method set


class RecoveryStep(Model):
    """One measurement of the --recover search."""

    action: str  # "all int8", "all float", "sensitivity <kind>", "int8 <kind or layer>"
    snr_db: float | None  # None when the runtime could not run that model
    passed: bool
    figures: str = ""  # the gate's other figures ("min_sample_cosine 0.9991, ...")


class Recovery(Model):
    """What --recover kept in float, and what it gained and cost."""

    kept_float: list[str]  # layer scopes whose ops run in float
    passed_on_decision: bool
    decision_samples: int  # calibration samples the search measured on
    decision_margin: float = 0.0  # share of the agreement limits' headroom also required there
    int8_snr_db: float | None  # the all-int8 model's worst output SNR there (None: not run)
    recovered_snr_db: float | None
    float_nodes: list[str] = []  # the output tensors of the kept layers' ops
    int8_figures: str = ""  # the gate's other figures there, all int8
    recovered_figures: str = ""
    float_mac_share: float = 0.0  # share of the matrix ops' multiply-accumulates kept in float
    int8_ms: float  # one invoke, one thread, fastest of several, on `runtime`
    recovered_ms: float
    float_ms: float | None = None  # every layer in float (the int8 inputs and outputs kept)
    runtime: str
    steps: list[RecoveryStep] = []
    budget_s: float = 0.0  # the search's time budget (0: a record from before it had one)
    search_s: float = 0.0  # what the search took, from the float references to the last latency


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
    calibration: Calibration | None = None  # full-integer modes
    recovery: Recovery | None = None  # --recover
    # where int8 went (quant_plan.json holds the whole plan): "integer" (every op) or
    # "matmuls" (the matrix ops, dynamic-range; the rest float), and why
    placement: str = "integer"
    placement_reason: str = ""
    int8_mac_share: float | None = None  # of the matrix ops' MACs, static or dynamic-range
    int16_ops: int = 0  # ops with int16 activations (--int16-norms, --quantize int16x8)
    smoothing: list[SmoothSite] = []  # the smoothed inputs of the int8 matrix ops
    attention: AttentionChoice | None = None  # attention's matmuls: int8 or float, measured
    segments: SegmentChain | None = None  # coral: the Edge TPU and host segments
    seconds: float = 0.0  # how long the stage took

    @property
    def arithmetic(self) -> str:
        """The --quantize mode whose arithmetic the model runs: a matmuls-placed int8 model
        computes as a dynamic-range one (int8 weights and MACs, float activations)."""
        return "dynamic" if self.placement == "matmuls" else self.quantize

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """True when every graph check passed."""
        return not any(c.fails_gate for c in self.checks)
