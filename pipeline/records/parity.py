"""parity.json: the gate, where the error comes from, and target compatibility. Every report form
(Markdown, HTML, JUnit, the manifest, `diff`, the plots) reads this tree by attribute; its JSON
schema, `pipeline/stages/report/parity.schema.json`, is generated from these types."""

from __future__ import annotations

from typing import ClassVar

from pipeline.records.approximate import AutoChoice, FineTune, RewriteSite, Site
from pipeline.records.base import Model, Record
from pipeline.records.compat import Compat
from pipeline.records.convert import Calibration, CheckResult, IOTensor, Recovery
from pipeline.records.device import (  # noqa: F401 (parity.json's device_vs_host, named here too)
    DeviceBudget,
    DeviceComparison,
    DifferenceBound,
    Divergence,
    FirstDifference,
    HostRun,
    KernelCheck,
    OpDifference,
    RoundingReplay,
)
from pipeline.records.plan import AttentionChoice, SmoothSite
from pipeline.records.segments import SegmentChain

SCHEMA_VERSION = 2


class Metrics(Model):
    """How far one model's outputs are from another's (pipeline/gate/metrics.py)."""

    max_abs_error: float
    mean_abs_error: float
    rmse: float
    snr_db: float | None  # None: identical outputs (infinite SNR)
    cosine: float
    max_error_lsb: float | None  # None for a float output
    sample_cosine: float | None = None  # mean per-sample cosine (embeddings)
    neighbour_agreement: float | None = None  # same nearest neighbour among the samples


class TaskResult(Model):
    """The task metric of the float, replaced and quantized models against the labels."""

    kind: str | None  # a registered task ("classification", "regression"); None: no labels
    metric: str | None  # "accuracy", "mae"
    reference: float | None = None  # the float model
    replaced: float | None = None  # the float model with GELU replaced
    quantized: float | None = None
    top1_agreement: float | None = None  # classification: quantized picks float's class
    note: str | None = None


class Quantization(Model):
    """An output's int8 scale and zero point (None for a float output)."""

    scale: float | None
    zero_point: int | None


class OutputParity(Model):
    """One model output: the quantized model against the float reference, and the split."""

    name: str
    metrics: Metrics | None  # quantized vs float reference; None when the runtime failed
    approx_metrics: Metrics  # replaced float vs float reference
    quantization_metrics: Metrics | None  # quantized vs replaced float
    task: TaskResult
    quantization: Quantization


class ThresholdRow(Model):
    """One enforced threshold: the value, the limit, the verdict."""

    output: str
    threshold: str
    value: float | None
    op: str  # ">=" or "<="
    limit: float
    passed: bool


class RuntimeInfo(Model):
    """Where the quantized model ran."""

    name: str
    version: str
    machine: str
    where: str  # "local", "emulated", "ssh"
    on: str  # the --on value
    python: str
    cpu: str | None = None  # the emulated CPU
    emulator: str | None = None  # the emulator and its version, e.g. "qemu-aarch64 10.0.13 (...)"
    delegate: str | None = None
    stands_in_for: str | None = None  # the target's runtime, not installed here
    note: str | None = None  # what running on a stand-in means for the target's users


class RuntimeFailure(Model):
    """The runtime could not load or run the model: its words and where in the graph."""

    message: str
    op: str | None = None
    layer: str | None = None


class DataInfo(Model):
    """The data parity ran on."""

    path: str
    split: str
    calibration: str
    warnings: list[str] = []


class LayerRow(Model):
    """One layer's float output against the quantized model's tensor."""

    layer: str
    layer_class: str
    tensor: int
    tensor_name: str
    scale: float | None
    gelu_site: bool
    metrics: Metrics
    rmse_over_scale: float | None
    match: str  # "ok", or "scaled": the tensor holds the output times a folded constant


class FirstJump(Model):
    """The first layer (in execution order) where the int8 error jumps: where to look first."""

    layer: str
    layer_class: str
    snr_db: float
    previous_snr_db: float | None
    advice: str


class LayerTable(Model):
    """Per-layer parity, worst first."""

    samples: int
    layers: list[LayerRow] = []
    unmatched: list[str] = []
    healthy_rmse_over_scale: float = 0.0
    first_jump: FirstJump | None = None


class GeluSiteRow(Model):
    """A replaced GELU at its own calibrated input range."""

    site: str
    layer: str
    input_range: tuple[float, float]
    output_scale: float | None
    approx_output_scale: float
    int8_max_lsb: float
    int8_mean_lsb: float


class SensitivityRow(Model):
    """The end-to-end figures with one layer kept in float."""

    layer: str
    kept_float_ops: int
    snr_db: float | None
    max_abs_error: float | None
    note: str = ""


class ApproxInfo(Model):
    """The GELU replacement and the other rewrites, as the report shows them."""

    name: str
    sites: list[Site]
    auto: AutoChoice | None = None
    rewrites: list[str] = []  # applied, in order (gelu among them when GELU was replaced)
    rewrite_sites: list[RewriteSite] = []

    @property
    def replaced(self) -> int:
        """Number of sites replaced."""
        return len(self.sites)


class ModelSize(Model):
    """The model's size before and after conversion."""

    parameters: int
    keras_bytes: int  # model_float.keras
    tflite_bytes: int  # model.tflite


class MacShare(Model):
    """The multiply-accumulates of the matrix ops that run in one kind of arithmetic
    (pipeline/tflite/macs.py): "int8", "int16x8", "hybrid" (float activations, int8 weights,
    int8 MACs on LiteRT) or "float"."""

    kind: str
    ops: int
    macs: int  # one invoke


class FloatOpGroup(Model):
    """Ops of one name that read or write a float tensor, and why they run in float."""

    op: str
    count: int
    reason: str


class Latency(Model):
    """One model's invoke on the runtime, one thread, after warm-up invokes."""

    median_ms: float
    min_ms: float
    repeats: int  # the invokes timed (fewer than asked once they add up to the time cap)
    threads: int


class Gains(Model):
    """What int8 buys: the integer share of the multiply-accumulates, the ops left in float,
    the size and the latency against a float32 TFLite of the same (replaced) model. Latency is
    measured only when parity runs on this machine, on its CPU: not the target's figure."""

    macs: list[MacShare] = []
    float_ops: list[FloatOpGroup] = []
    float_tflite_bytes: int | None = None  # None: not converted (--quantize none, or it failed)
    runtime: str | None = None  # "tflite-runtime 2.14.0"; None: latency not measured
    machine: str | None = None  # this machine's CPU architecture
    quantized_latency: Latency | None = None
    float_latency: Latency | None = None
    notes: list[str] = []  # what was not measured, and why

    @property
    def integer_share(self) -> float | None:
        """The share of MACs in integer arithmetic (int8, int16x8, hybrid); None without any."""
        total = sum(m.macs for m in self.macs)
        integer = sum(m.macs for m in self.macs if m.kind != "float")
        return integer / total if total else None

    @property
    def latency_ratio(self) -> float | None:
        """Quantized median over float median."""
        q, f = self.quantized_latency, self.float_latency
        return q.median_ms / f.median_ms if q and f and f.median_ms > 0 else None

    def smaller(self, tflite_bytes: int) -> float | None:
        """How many times smaller model.tflite is than the float32 TFLite."""
        return self.float_tflite_bytes / tflite_bytes \
            if self.float_tflite_bytes and tflite_bytes else None


class ParityRecord(Record):
    """What the parity stage measured and decided."""

    FILE: ClassVar[str] = "parity.json"
    STAGE: ClassVar[str] = "parity"

    schema_version: int = SCHEMA_VERSION
    passed: bool
    quantize: str
    placement: str = "integer"  # where int8 went (quant_plan.json): integer or matmuls
    placement_reason: str = ""
    int16_ops: int = 0  # ops with int16 activations (--int16-norms, --quantize int16x8)
    smoothing: list[SmoothSite] = []  # the smoothed inputs of the int8 matrix ops
    attention: AttentionChoice | None = None  # attention's matmuls: int8 or float, measured
    segments: SegmentChain | None = None  # coral: the Edge TPU and host segments
    target: str
    approx: ApproxInfo
    compat: Compat
    runtime: RuntimeInfo
    runtime_failure: RuntimeFailure | None = None
    device_vs_host: DeviceComparison | None = None
    inputs: list[IOTensor]  # as the converted model has them
    output_tensors: list[IOTensor]
    outputs: list[OutputParity]
    size: ModelSize
    samples: int
    data: DataInfo
    fine_tune: FineTune | None = None
    thresholds: list[ThresholdRow]
    threshold_sources: list[str] = []
    checks: list[CheckResult]
    ops: dict[str, int]
    calibration: Calibration | None = None
    recovery: Recovery | None = None
    layers: LayerTable | None = None
    gelu_sites: list[GeluSiteRow] = []
    sensitivity: list[SensitivityRow] = []
    gains: Gains | None = None
    # Seconds per stage (train, approximate, convert) and per part of parity.
    timings: dict[str, float] = {}
    # The sha256 of what was measured: model_float.keras, model_approx.keras, model.tflite, data.
    measured: dict[str, str] = {}

    @property
    def first(self) -> OutputParity:
        """The first output (what one-output reports show)."""
        return self.outputs[0]

    @property
    def failed(self) -> list[str]:
        """Names of the thresholds and checks that failed."""
        return ([t.threshold for t in self.thresholds if not t.passed]
                + [c.name for c in self.checks if c.fails_gate])

