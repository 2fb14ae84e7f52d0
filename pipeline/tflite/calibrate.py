"""Full-integer quantization in two steps, so ranges and precision can be chosen per tensor.

TFLiteConverter calibrates with min/max and quantizes in one go. The same converter can stop
after calibrating (`_experimental_calibrate_only`): a float model whose every activation tensor
carries the min and max it saw. Its ranges can then be replaced (percentile, MSE) and the model
quantized with TensorFlow's own MLIR quantizer, `mlir_quantize`, the call the converter makes
itself, which also keeps chosen ops in float (`denylisted_nodes`) for `--recover`.
Quantizing a calibrated model again takes seconds; calibrating takes as long as converting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.tflite.graph import schema

# The integer types the quantizer's inputs and outputs get per --quantize mode.
IO_TYPES = {"int8": "int8", "uint8": "uint8"}


@dataclass
class Calibrated:
    """A calibrated float model: its bytes, and the min/max TFLite recorded per tensor."""

    data: bytes
    ranges: dict[int, tuple[float, float]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def read(cls, data: bytes) -> Calibrated:
        """Read the recorded ranges from the flatbuffer."""
        s = schema()
        model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
        ranges, names = {}, {}
        for i, t in enumerate(model.subgraphs[0].tensors):
            q = t.quantization
            names[i] = (t.name or b"").decode() if isinstance(t.name, bytes) else str(t.name)
            if q is not None and q.min is not None and len(q.min) == 1 and q.max is not None:
                ranges[i] = (float(q.min[0]), float(q.max[0]))
        return cls(data=data, ranges=ranges, names=names)


def with_ranges(calibrated: Calibrated, ranges: dict[int, tuple[float, float]]) -> bytes:
    """The calibrated model with some tensors' recorded ranges replaced."""
    import flatbuffers

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(calibrated.data), 0)
    tensors = model.subgraphs[0].tensors
    for index, (lo, hi) in ranges.items():
        q = tensors[index].quantization
        q.min, q.max = [float(lo)], [float(hi)]
    builder = flatbuffers.Builder(len(calibrated.data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def quantize(calibrated: Calibrated, mode: str, ranges: dict[int, tuple[float, float]] | None,
             keep_float: list[str] | None = None) -> bytes:
    """Quantize a calibrated model as TFLiteConverter would (mode int8 or uint8), with the given
    ranges in place of the recorded ones, and the ops whose output tensors are named in
    `keep_float` left in float."""
    from pipeline.tfenv import captured_native_output, tensorflow

    tf = tensorflow()
    from tensorflow.lite.python import convert

    data = with_ranges(calibrated, ranges) if ranges else calibrated.data
    io = getattr(tf, IO_TYPES[mode])
    with captured_native_output():
        quantized = convert.mlir_quantize(data, disable_per_channel=False, input_data_type=io,
                                          output_data_type=io,
                                          denylisted_nodes=list(keep_float or []) or None)
        return convert.deduplicate_readonly_buffers(quantized)


def histogram_ranges(calibrated: Calibrated, histograms: dict[int, np.ndarray], pick: Any,
                     parameter: float | None) -> dict[int, tuple[float, float]]:
    """New ranges from each tensor's histogram (over its recorded range) and a method's pick."""
    found = {}
    for index, counts in histograms.items():
        lo, hi = calibrated.ranges[index]
        found[index] = pick(counts, lo, hi, parameter)
    return found
