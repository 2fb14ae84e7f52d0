"""parity.json's `device_vs_host`: the device's int8 outputs against this machine's, how many
samples ran and what they prove, what the time budget allowed, and where the two machines part
ways in the graph (pipeline/device/parity.py, budget.py, bound.py, divergence.py)."""

from __future__ import annotations

from pipeline.records.base import Model


class FirstDifference(Model):
    """The first sample whose device and host outputs differ."""

    sample: int
    device: list[float]
    host: list[float]


class HostRun(Model):
    """The runtime the device was compared with, on this machine."""

    name: str
    version: str
    machine: str


class DifferenceBound(Model):
    """The rate of samples whose outputs differ, and its interval at `confidence`."""

    samples: int
    differing: int
    rate: float
    low: float
    high: float  # with no difference: 3 / samples (the rule of three)
    method: str  # "rule of three" or "Wilson score"
    confidence: float


class DeviceBudget(Model):
    """How the sample counts were chosen (--device-budget) and what the device part took."""

    budget_s: float
    device_invoke_s: float | None  # measured by the probe (None: counts given, no probe)
    device_start_s: float | None  # one runner's start there: process, imports, model load
    host_invoke_s: float | None
    processes: int  # device runners side by side (disjoint samples)
    host_processes: int
    limited_by: str  # "budget", "data" (every input there is), "cap", "given"
    planned_samples: int  # inputs the plan ran on both sides
    ran_samples: int  # fewer when the device was slower than the probe said
    estimated_s: float | None
    spent_s: float  # the whole device part: probes, runs, comparison, localisation


class OpDifference(Model):
    """One op's output tensor, device against host, on the localised sample."""

    op_index: int  # in execution order
    op: str
    layer: str  # the Keras layer its tensor's name points at
    tensor: int
    tensor_name: str
    dtype: str
    elements: int
    differing: int
    max_diff: float  # in `unit`
    unit: str  # "LSB" (quantized codes), "int" (plain integers) or "float" (absolute)


class KernelCheck(Model):
    """The localised sample again, on the runtime's reference kernels on both sides."""

    agree: bool  # the two sides agree on every observable tensor
    first: OpDifference | None  # the first op that still differs
    # How far the reference kernels' output of the op where the optimized runs first differ is
    # from the optimized kernels' on this machine (codes): 0-1 means they compute the same thing.
    reference_vs_optimized: float | None = None


class RoundingReplay(Model):
    """The first differing op (an int8 FULLY_CONNECTED) replayed here in integer arithmetic
    once per way of rounding its requantization: the ways that give each side's output."""

    op_index: int
    values: int
    device: list[str]  # rounding modes (pipeline/device/rounding.py) that match exactly
    host: list[str]


class Divergence(Model):
    """Where the device and this machine part ways, on the first sample whose outputs differ."""

    sample: int  # index into the compared inputs
    first: OpDifference | None  # None: every observable tensor agrees
    growth: list[OpDifference] = []  # every observable op output from `first` on, in order
    hidden: list[int] = []  # tensors overwritten by an op that ran in place: not compared
    traced_matches_run: bool  # each side's run with every tensor kept gave its normal output
    reference: KernelCheck | None = None
    rounding: RoundingReplay | None = None
    verdict: str
    note: str | None = None  # what could not be done (a run past the budget, a failure)


class DeviceComparison(Model):
    """The device's int8 outputs against this machine's on the same inputs."""

    samples: int
    outputs: int
    differing_outputs: int
    differing_samples: int
    max_diff_lsb: float
    first_difference: FirstDifference | None
    host: HostRun
    bound: DifferenceBound | None = None
    budget: DeviceBudget | None = None
    divergence: Divergence | None = None
