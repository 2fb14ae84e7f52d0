"""approximate.json: the GELU sites found and replaced, how the approximation was chosen, and
the fine-tuning that followed (if asked)."""

from __future__ import annotations

from typing import ClassVar

from pipeline.records.base import Model, Record


class Site(Model):
    """One place in a model where GELU is computed."""

    path: str  # "<layer path>.<attribute>" in the replaced model
    layer_class: str  # the layer's class, or the raw operation's ("Gelu")
    form: str  # "exact" or "tanh"
    # "activation" (a layer's function), "op" (a raw graph node) or "code" (keras.ops.gelu in a
    # layer's own call(): routed to the layer's `call_gelu`)
    kind: str = "activation"
    calls: int = 1  # GELU evaluations per model call (a shared layer counts each call)

    @property
    def layer(self) -> str:
        """The layer path in the replaced model."""
        return self.path.rsplit(".", 1)[0]

    @property
    def attr(self) -> str:
        """The attribute of that layer that holds the function."""
        return self.path.rsplit(".", 1)[1]


class Candidate(Model):
    """One variant's figures as `--approx auto` saw them."""

    name: str
    accepted: bool
    int8_max_lsb: float
    int8_max_lsb_without_top_code: float
    int8_mean_lsb: float
    latency_ms: float | None
    ops: int
    vs_lut: float | None  # latency / the lookup table's
    cost: float  # latency (CPU targets) or op count (accelerators)
    vs_cheapest: float  # cost / the cheapest accepted variant's
    cost_ok: bool
    # The float single-op model on the runtime: what a `matmuls` build runs GELU as.
    float_max_err: float | None = None  # absolute, against exact GELU on FLOAT_RANGE
    float_mean_err: float | None = None
    float_latency_ms: float | None = None


class AutoChoice(Model):
    """Why `--approx auto` chose what it chose."""

    chosen: str
    target: str
    runtime: str
    reason: str
    max_slowdown: float
    cost: str  # "latency_ms" or "ops"
    cost_limit: float
    candidates: list[Candidate]
    # "int8": the GELU runs int8 (placement integer); "float": the build's placement runs it in
    # float (matmuls), so the float figures decide.
    precision: str = "int8"


class FineTune(Model):
    """`--fine-tune-epochs`: the replaced float model's task metric before and after."""

    epochs: int
    metric: str
    before: float
    after: float
    train_samples: int
    learning_rate: float


class RewriteSite(Model):
    """One place a rewrite other than GELU's changed, with its float error there."""

    rewrite: str
    path: str
    layer_class: str
    detail: str
    float_max_abs: float  # largest |replacement - original| of the layer's output
    float_max_rel: float  # the same over the original output's largest magnitude


class ApproximateRecord(Record):
    """What the approximate stage did."""

    FILE: ClassVar[str] = "approximate.json"
    STAGE: ClassVar[str] = "approximate"

    approx: str
    sites: list[Site]
    auto: AutoChoice | None = None  # set when --approx auto chose
    fine_tune: FineTune | None = None
    target: str = "rpi"  # some rewrites take the target's form
    rewrites: list[str] = ["gelu"]  # the rewrites applied, in order
    rewrite_sites: list[RewriteSite] = []
    # constants rewrites fitted on calibration samples, applied again on every load:
    # (stream-scale: layer path -> its output scale; path#input -> the embeddings' sum's)
    fitted: dict[str, list[float]] = {}
    # where int8 goes (pipeline.tflite.placement): decided here, since the rewrites depend on it
    placement: str = "integer"
    placement_reason: str = ""
    seconds: float = 0.0  # how long the stage took

    @property
    def replaced(self) -> int:
        """Number of sites replaced."""
        return len(self.sites)

    @property
    def gelu_evaluations(self) -> int:
        """GELU ops the converted model should have if the approximation keeps the GELU op."""
        return sum(s.calls for s in self.sites)
