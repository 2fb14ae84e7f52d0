"""Which way each machine's kernels round an int8 FULLY_CONNECTED: the op replayed here in exact
integer arithmetic (int8 inputs and weights, int32 accumulators and bias, the per-channel
fixed-point multipliers TFLite derives from the scales), once per way of rounding the
requantization, against each side's raw output. Kernels that agree on everything but ties
differ by 1 LSB on a few values; the replay says which side rounds how, where the reference
kernels cannot: they round their own way (on x86_64, tflite-runtime 2.14's reference kernels
round ties away from zero, its optimized ones toward +infinity, twice; LiteRT's round once).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.records.parity import RoundingReplay
from pipeline.tflite import graph

# Each mode takes the 64-bit products accumulator x multiplier and the right shift.


def _round_away(product: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul (ties toward +infinity, as SQRDMULH) then
    RoundingDivideByPOT (ties away from zero): TFLite's reference MultiplyByQuantizedMultiplier."""
    nudged = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))  # C division: toward zero
    mask = (np.int64(1) << shift) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> shift) + ((high & mask) > threshold)


def _round_up(product: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """NEON's SQRDMULH then SRSHL by -shift (and kernels that do the same on x86): both round
    ties toward +infinity."""
    high = (2 * product + (1 << 31)) >> 32
    return np.where(shift > 0, (high + (np.int64(1) << np.maximum(shift - 1, 0))) >> shift, high)


def _single(product: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """One rounding of the 64-bit product, ties toward +infinity (TFLITE_SINGLE_ROUNDING)."""
    total = 31 + shift
    return (product + (np.int64(1) << (total - 1))) >> total


AWAY_TWICE = "ties away from zero at the shift, rounded twice (gemmlowp, TFLite's reference)"
UP_TWICE = "ties toward +infinity, rounded twice (SQRDMULH then SRSHL, as on NEON)"
UP_ONCE = "ties toward +infinity, rounded once (TFLITE_SINGLE_ROUNDING)"
MODES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    AWAY_TWICE: _round_away, UP_TWICE: _round_up, UP_ONCE: _single}


def _round_half_away(value: float) -> int:
    """TfLiteRound (std::round): ties away from zero, where Python's round() goes to even."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: (significand in [2^30, 2^31], right shift) with
    real = significand * 2^-31 * 2^-shift; (0, 0) for zero or a multiplier below 2^-31."""
    if real == 0.0:
        return 0, 0
    fraction, exponent = math.frexp(real)
    significand = _round_half_away(fraction * (1 << 31))  # exact: 53-bit double, no overflow
    if significand == 1 << 31:
        significand //= 2
        exponent += 1
    if exponent < -31:
        return 0, 0
    return significand, -exponent


# ActivationFunctionType: NONE, RELU, RELU_N1_TO_1, RELU6 (TANH and SIGN_BIT are not ranges).
FUSED: dict[int, tuple[float | None, float | None]] = {
    0: (None, None), 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


def _scales(tensor: object) -> np.ndarray | None:
    q = tensor.Quantization()  # type: ignore[attr-defined]
    return q.ScaleAsNumpy().astype(np.float32) if q is not None and q.ScaleLength() else None


def _zero_point(tensor: object) -> int:
    q = tensor.Quantization()  # type: ignore[attr-defined]
    return int(q.ZeroPoint(0)) if q is not None and q.ZeroPointLength() else 0


def _constant(model: object, tensor: object, dtype: type) -> np.ndarray:
    """A constant tensor's values (empty when its data is not in the buffer)."""
    buffer = model.Buffers(tensor.Buffer())  # type: ignore[attr-defined]
    if buffer is None or not buffer.DataLength():
        return np.zeros(0, dtype)
    return np.frombuffer(bytes(buffer.DataAsNumpy()), dtype)


def _activation_range(op: object, schema: object, scale: float, zero_point: int
                      ) -> tuple[int, int] | None:
    """TFLite's CalculateActivationRangeQuantized for the op's fused activation (None for one
    it does not clamp to a range)."""
    options = schema.FullyConnectedOptions()  # type: ignore[attr-defined]
    table = op.BuiltinOptions()  # type: ignore[attr-defined]
    kind = 0
    if table is not None:
        options.Init(table.Bytes, table.Pos)
        kind = options.FusedActivationFunction()
    if kind not in FUSED:
        return None
    low, high = FUSED[kind]
    return (-128 if low is None else max(-128, zero_point + _round_half_away(low / scale)),
            127 if high is None else min(127, zero_point + _round_half_away(high / scale)))


def replay(model: Path | bytes, op_index: int, x: np.ndarray) -> dict[str, np.ndarray] | None:
    """The int8 FULLY_CONNECTED `op_index` of the main subgraph on raw input `x` (the model's
    path or bytes), once per rounding mode; None for another op or what it does not cover
    (other types, weights that are no constant or have a zero point, a multiplier >= 1, a fused
    TANH)."""
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    schema = graph.schema()
    flat = schema.Model.GetRootAs(data, 0)
    sub = flat.Subgraphs(0)
    if not 0 <= op_index < sub.OperatorsLength():
        return None
    op = sub.Operators(op_index)
    code = flat.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin != schema.BuiltinOperator.FULLY_CONNECTED:
        return None
    inputs = [int(i) for i in op.InputsAsNumpy()]
    t_in, t_w, t_out = (sub.Tensors(i) for i in (inputs[0], inputs[1], int(op.Outputs(0))))
    int8 = schema.TensorType.INT8
    if (t_in.Type(), t_w.Type(), t_out.Type()) != (int8, int8, int8) or _scales(t_w) is None:
        return None
    if _scales(t_in) is None or _scales(t_out) is None or _zero_point(t_w) != 0:
        return None
    s_in, s_out = float(_scales(t_in)[0]), float(_scales(t_out)[0])
    weights = _constant(flat, t_w, np.int8)
    shape = [int(d) for d in t_w.ShapeAsNumpy()]
    if len(shape) != 2 or weights.size != shape[0] * shape[1] or x.size % shape[1]:
        return None
    weights = weights.reshape(shape).astype(np.int64)
    acc = (x.reshape(-1, shape[1]).astype(np.int64) - _zero_point(t_in)) @ weights.T
    if len(inputs) > 2 and inputs[2] >= 0:
        bias = _constant(flat, sub.Tensors(inputs[2]), np.int32)
        if bias.size != shape[0]:
            return None
        acc = acc + bias.astype(np.int64)
    s_w = np.broadcast_to(_scales(t_w), (weights.shape[0],))
    pairs = [quantize_multiplier(float(np.float64(s_in) * np.float64(s) / np.float64(s_out)))
             for s in s_w]
    multiplier = np.array([m for m, _ in pairs], np.int64)
    shift = np.array([s for _, s in pairs], np.int64)
    if (shift < 0).any():  # a multiplier >= 1: a left shift first, not covered
        return None
    bounds = _activation_range(op, schema, s_out, _zero_point(t_out))
    if bounds is None:
        return None
    return {name: np.clip(fn(acc * multiplier, shift) + _zero_point(t_out), *bounds)
            for name, fn in MODES.items()}


def explain(model: Path | bytes, op_index: int, x: np.ndarray, device: np.ndarray,
            host: np.ndarray) -> RoundingReplay | None:
    """Which rounding modes reproduce each side's output of the op exactly (None when `replay`
    does not cover the op)."""
    found = replay(model, op_index, x)
    if found is None:
        return None
    matches = {side: [name for name, values in found.items()
                      if np.array_equal(values.reshape(-1), raw.reshape(-1).astype(np.int64))]
               for side, raw in (("device", device), ("host", host))}
    return RoundingReplay(op_index=op_index, values=int(device.size), device=matches["device"],
                          host=matches["host"])
