"""quant_plan.json: every precision decision a build made, in one artifact that `gelu-edge
convert --plan FILE` applies again to make the same model.tflite."""

from __future__ import annotations

from typing import Any, ClassVar

from pipeline import artifacts
from pipeline.records.base import Model, Record

FORMAT = 1


class OpPrecision(Model):
    """One matrix op of the converted model and the arithmetic it runs in."""

    op: str  # FULLY_CONNECTED, ...
    layer: str  # the Keras layer it comes from
    precision: str  # int8, int16x8, hybrid (int8 weights and MACs, float in and out), float
    macs: int  # multiply-accumulates per sample


class SmoothSite(Model):
    """One smoothed input of int8 matrix ops (pipeline.tflite.smooth): its alpha, the emulated
    int8 error of its consumers' outputs without and with it, and the float difference the
    transform made (it is exact up to float rounding)."""

    tensor: str  # the activation, by its name in the float TFLite model
    consumers: list[str]  # the FULLY_CONNECTED ops reading it (their output tensors)
    alpha: float
    error_before: float  # relative error power of the consumers' outputs, int8 emulated
    error_after: float
    float_max_rel: float | None = None  # max |smoothed - float| / max |float| of the consumers


class AttentionChoice(Model):
    """Attention's activation x activation matmuls: static int8 (one scale per tensor, or per
    head) or float, as measured."""

    ops: int
    mac_share: float  # of the model's matrix-op MACs
    chosen: str  # int8 | float
    int8_ms: float  # one-thread median latency of the model with them static int8
    float_ms: float  # and with them float
    int8_snr_db: float  # output SNR against the float model on calibration samples
    float_snr_db: float
    why: str
    per_head: bool = False  # the int8 chosen has scales per head (pipeline.tflite.heads)
    heads_ms: float | None = None  # the model with them static int8, scales per head
    heads_snr_db: float | None = None
    per_tensor_ms: float | None = None  # and with one scale per tensor
    per_tensor_snr_db: float | None = None
    model_float_ms: float | None = None  # the float model (every op float)


class QuantPlan(Record):
    """How model.tflite was quantized: the placement and why, the rewrites, the ranges and the
    method that chose them, the layers kept in float, the recipe, and what each matrix op runs."""

    FILE: ClassVar[str] = artifacts.QUANT_PLAN
    STAGE: ClassVar[str] = "convert"

    format: int = FORMAT
    mode: str  # --quantize
    placement: str  # integer | matmuls (pipeline.tflite.placement)
    why: str
    runtime: str  # the runtime the plan was made for (hybrid weights differ per runtime)
    batch: int
    rewrites: list[str]  # the rewrites model_approx.keras carries (approximate.json)
    # the constants the rewrites fitted (approximate.json's: stream-scale's scales), applied
    # to model_approx.keras on every load
    fitted: dict[str, list[float]] = {}
    calibration_method: str | None = None  # the method that set the ranges (auto's choice)
    calibration_samples: int = 0  # the first N calibration samples calibrated (0: all)
    # integer placement: calibrated tensor index -> the range the method chose for it (tensors
    # not listed keep their recorded min/max)
    ranges: dict[int, tuple[float, float]] = {}
    keep_float: list[str] = []  # layers --recover left in float
    float_nodes: list[str] = []  # the output tensors of their ops (what the quantizer skips)
    # --int16-norms: the output tensors of the ops with int16 activations (the rest int8, by
    # ai-edge-quantizer with static_ranges)
    int16_nodes: list[str] = []
    recipe: list[dict[str, Any]] = []  # matmuls placement: ai-edge-quantizer's recipe
    smoothing: list[SmoothSite] = []  # matmuls placement: the smoothed inputs
    smoothing_factors: dict[str, list[float]] = {}  # tensor -> s (its channels divided by)
    attention: AttentionChoice | None = None  # matmuls placement with activation matmuls
    static_ranges: dict[str, tuple[float, float]] = {}  # tensor name -> range (static int8 ops)
    ops: list[OpPrecision] = []  # the matrix ops of the model made
    model_sha256: str = ""  # of the model.tflite this plan made
    # what that model computes, whatever its op order and tensor names (graph.canonical_sha256)
    model_canonical_sha256: str = ""

    @property
    def int8_mac_share(self) -> float:
        """Share of the matrix ops' MACs in int8 arithmetic (static or dynamic-range)."""
        total = sum(o.macs for o in self.ops)
        return sum(o.macs for o in self.ops if o.precision != "float") / total if total else 0.0
