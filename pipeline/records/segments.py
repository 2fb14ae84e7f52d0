"""segments.json: a coral build's chain of Edge TPU and host segments (pipeline.tflite.segments),
what crosses each cut, and what the Edge TPU is estimated to do with it. `python -m edge chain`
reads the same file to run the chain."""

from __future__ import annotations

from pipeline.records.base import Model


class BoundaryTensor(Model):
    """A tensor one segment writes and a later one reads (or the model's input or output),
    with the int8 quantization it keeps across the cut."""

    index: int  # in the whole model
    name: str
    dtype: str
    shape: list[int]
    scale: float | None
    zero_point: int | None
    bytes: int


class Segment(Model):
    """One model of the chain."""

    side: str  # "accelerator" (an Edge TPU segment) or "host"
    file: str  # relative to the build folder
    ops: dict[str, int]
    macs: int
    parameter_bytes: int  # the constant tensors its ops read
    inputs: list[int]  # tensor indices of the whole model, in the segment's input order
    outputs: list[int]
    host_reasons: dict[str, str] = {}  # host segments: op -> why the Edge TPU does not run it
    check: str | None = None  # accelerator segments: "passed", or the static check's failure
    cached: bool | None = None  # accelerator segments: its parameters fit the on-chip cache


class ChainCheck(Model):
    """The chain run against model.tflite on the same samples and CPU runtime."""

    runtime: str
    samples: int
    equal: bool  # every output code the same
    max_code_diff: float
    where: str = "local"  # the place both ran: this machine, or the --on device


class SegmentChain(Model):
    """The chain, the Edge TPU share of the work, and the estimate."""

    target: str
    segments: list[Segment]
    model_inputs: list[int]
    model_outputs: list[int]
    boundary: list[BoundaryTensor]
    max_segments: int | None = None  # --max-segments
    accelerator_mac_share: float
    accelerator_parameter_bytes: int
    cache_bytes: int  # the on-chip parameter memory the estimate assumes
    streamed_bytes: int  # accelerator parameters beyond it: streamed from the host each inference
    transfer_bytes: int  # activations crossing host <-> Edge TPU per inference
    estimate_ms: float  # Edge TPU compute + transfers, from published peaks: a lower bound
    estimate_basis: str
    compile_command: str
    chain_check: ChainCheck | None = None
    # Ops on the host whose kind makes edgetpu_compiler fail on any model holding it (GELU,
    # builtin 150; op versions it does not know): replaceable, so the chain does not pass.
    rejected: list[str] = []
