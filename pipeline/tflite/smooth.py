"""Smoothing (SmoothQuant, Xiao et al. 2022) for the int8 matrix ops of a `matmuls` build: an
exact transform of the float TFLite graph that changes only where the int8 grid falls.

A hybrid FULLY_CONNECTED quantizes each row of its float input on the fly with one scale; in a
transformer a few channels of that input (the residual stream's outlier dimensions, amplified
by layer norm's gamma) are tens of times larger than the rest, so the rest get a handful of
int8 levels. Dividing input channel j by s_j and multiplying the weights' column j by s_j
computes the same product: y = (x diag(s)^-1) (diag(s) W^T). With s_j = max|x_j|^a /
max|W_j|^(1-a) the input's channels come closer together, at the cost of the weights'.

Per input tensor (shared by the FULLY_CONNECTED ops that read it, as Q, K and V share theirs),
`a` is chosen from ALPHAS by the emulated int8 error of those ops' outputs on rows of the
calibration samples (no smoothing stays a candidate), and the division is a float MUL inserted
before them: the converter would fold a Keras-level one back into the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.inputs import batch as batches
from pipeline.progress import Reporter
from pipeline.records.plan import SmoothSite
from pipeline.tflite import edit, placement, tensors
from pipeline.tflite.graph import schema

ALPHAS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # 0.0: the weights' side alone
SAMPLES = 32  # calibration samples the statistics come from
ROWS = 512  # input rows kept per tensor to emulate the int8 error on
FULLY_CONNECTED, MUL = 9, 18
FLOAT32 = 0
S_LIMITS = (1e-4, 1e4)
INT8_MAX = 127.0
# Runtimes whose hybrid kernels quantize each input row with a zero point (XNNPACK's).
ASYMMETRIC_INPUTS = ("litert",)


@dataclass
class _Input:
    """An activation FULLY_CONNECTED ops read: its channels' largest magnitude and some rows."""

    tensor: int
    users: list[Any]
    amax: np.ndarray
    rows: list[np.ndarray]


def _code(model: Any, op: Any) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _constant(model: Any, graph: Any, index: int) -> bool:
    data = model.buffers[graph.tensors[index].buffer].data
    return data is not None and len(data) > 0


def _weights(model: Any, graph: Any, index: int) -> np.ndarray:
    t = graph.tensors[index]
    return np.frombuffer(bytes(bytearray(model.buffers[t.buffer].data)),
                         np.float32).reshape(t.shape).copy()


def _name(graph: Any, index: int) -> str:
    name = graph.tensors[index].name
    return name.decode() if isinstance(name, bytes) else str(name)


def _fc_inputs(model: Any) -> dict[int, list[Any]]:
    """Activation tensor -> the float FULLY_CONNECTED ops with constant weights reading it."""
    graph = model.subgraphs[0]
    found: dict[int, list[Any]] = {}
    for op in graph.operators:
        if _code(model, op) != FULLY_CONNECTED or len(op.inputs) < 2:
            continue
        x, w = op.inputs[0], op.inputs[1]
        if _constant(model, graph, x) or not _constant(model, graph, w) or \
                graph.tensors[w].type != FLOAT32 or len(graph.tensors[w].shape) != 2:
            continue
        found.setdefault(x, []).append(op)
    return found


def _statistics(data: bytes, model: Any, calib_x: batches.Inputs,
                inputs: dict[int, list[Any]]) -> list[_Input]:
    """Per input tensor: its channels' max |x| and up to ROWS rows, over SAMPLES samples."""
    graph = model.subgraphs[0]
    rng = np.random.default_rng(0)
    found = {t: _Input(t, users, np.zeros(graph.tensors[t].shape[-1], np.float32), [])
             for t, users in inputs.items()}
    per_sample = max(1, ROWS // min(SAMPLES, batches.count(calib_x)))
    for interpreter in tensors.on_samples(data, calib_x, SAMPLES):
        for t, entry in found.items():
            x = interpreter.get_tensor(t).reshape(-1, entry.amax.shape[0])
            entry.amax = np.maximum(entry.amax, np.abs(x).max(axis=0))
            entry.rows.append(x[rng.choice(len(x), min(per_sample, len(x)), replace=False)])
    return list(found.values())


def _quantize_rows(x: np.ndarray, asymmetric: bool) -> np.ndarray:
    """Each row of x through int8 with a scale (and zero point) of its own, as the hybrid
    kernels quantize their input: asymmetric in XNNPACK (LiteRT), symmetric in TFLite's own."""
    if asymmetric:
        lo = np.minimum(x.min(axis=1, keepdims=True), 0.0)
        hi = np.maximum(x.max(axis=1, keepdims=True), 0.0)
        step = np.maximum(hi - lo, 1e-12) / 255.0
        zero = np.round(-128.0 - lo / step)
        return (np.clip(np.round(x / step) + zero, -128, 127) - zero) * step
    step = np.maximum(np.abs(x).max(axis=1, keepdims=True), 1e-12) / INT8_MAX
    return np.round(x / step) * step


def _int8_error(x: np.ndarray, weights: list[np.ndarray], s: np.ndarray, asymmetric: bool,
                per_channel: bool) -> float:
    """Relative error power of the FULLY_CONNECTED outputs with the input divided by s (int8
    per row) and the weights' columns multiplied by s (int8 per output channel, or one scale
    for the whole tensor)."""
    xq = _quantize_rows(x / s, asymmetric)
    err = ref = 0.0
    for w in weights:
        ws = w * s[None, :]
        wmax = np.abs(ws).max(axis=1, keepdims=True) if per_channel else np.abs(ws).max()
        wstep = np.maximum(wmax, 1e-12) / INT8_MAX
        wq = np.round(ws / wstep) * wstep
        y = x @ w.T
        err += float(np.sum((xq @ wq.T - y) ** 2))
        ref += float(np.sum(y ** 2))
    return err / max(ref, 1e-30)


def _factors(entry: _Input, weights: list[np.ndarray], asymmetric: bool, per_channel: bool
             ) -> tuple[float | None, np.ndarray, float, float]:
    """(alpha or None for no smoothing, s, error without, error with) for one input."""
    x = np.concatenate(entry.rows)
    wmax = np.max([np.abs(w).max(axis=0) for w in weights], axis=0)
    ones = np.ones_like(entry.amax)
    before = _int8_error(x, weights, ones, asymmetric, per_channel)
    best: tuple[float | None, np.ndarray, float] = (None, ones, before)
    for alpha in ALPHAS:
        s = np.where((entry.amax > 0) & (wmax > 0),
                     entry.amax ** alpha / np.maximum(wmax, 1e-12) ** (1 - alpha), 1.0)
        s = np.clip(s, *S_LIMITS).astype(np.float32)
        error = _int8_error(x, weights, s, asymmetric, per_channel)
        if error < best[2]:
            best = (alpha, s, error)
    return best[0], best[1], before, best[2]


def choose(data: bytes, calib_x: batches.Inputs, runtime: str, reporter: Reporter
           ) -> tuple[list[SmoothSite], dict[str, list[float]]]:
    """The smoothing of each FULLY_CONNECTED input that lowers its emulated int8 error on the
    runtime's hybrid kernels: the sites, and each site's factors by tensor name."""
    asymmetric = runtime in ASYMMETRIC_INPUTS
    per_channel = placement.weights(runtime) == "CHANNELWISE"
    model = schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    inputs = _fc_inputs(model)
    if not inputs:
        return [], {}
    with reporter.phase(f"smoothing: statistics of {len(inputs)} matrix-op inputs"):
        entries = _statistics(data, model, calib_x, inputs)
    sites, factors = [], {}
    for entry in entries:
        weights = [_weights(model, graph, op.inputs[1]) for op in entry.users]
        alpha, s, before, after = _factors(entry, weights, asymmetric, per_channel)
        if alpha is None:
            continue
        name = _name(graph, entry.tensor)
        sites.append(SmoothSite(tensor=name,
                                consumers=[_name(graph, op.outputs[0]) for op in entry.users],
                                alpha=alpha, error_before=before, error_after=after))
        factors[name] = [float(v) for v in s]
    return sites, factors


def apply(data: bytes, factors_by_tensor: dict[str, list[float]]) -> bytes:
    """The float model with each named input divided by its factors (a MUL) and its
    consumers' weight columns multiplied by them."""
    import flatbuffers

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    by_name = {_name(graph, i): i for i in range(len(graph.tensors))}
    inputs = _fc_inputs(model)
    mul = edit.op_code(model, MUL)
    for name, values in factors_by_tensor.items():
        t = by_name[name]
        factors = np.asarray(values, np.float32)
        users = inputs[t]
        for op in users:
            w = _weights(model, graph, op.inputs[1]) * factors[None, :]
            model.buffers[graph.tensors[op.inputs[1]].buffer].data = np.frombuffer(
                w.astype(np.float32).tobytes(), np.uint8)
        inverse = edit.add_tensor(model, f"{name}/smooth_inverse", [len(factors)], FLOAT32,
                                  (1.0 / factors).astype(np.float32))
        source = graph.tensors[t]
        out = edit.add_tensor(model, f"{name}/smoothed", list(source.shape), FLOAT32)
        if source.shapeSignature is not None:
            graph.tensors[out].shapeSignature = list(source.shapeSignature)
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = mul, [t, inverse], [out]
        op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.MulOptions, s.MulOptionsT()
        graph.operators.insert(min(graph.operators.index(u) for u in users), op)
        for user in users:
            user.inputs[0] = out
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def verify(float_data: bytes, smoothed: bytes, sites: list[SmoothSite],
           calib_x: batches.Inputs, samples: int = 2) -> list[SmoothSite]:
    """Each site with the float difference smoothing made at its consumers' outputs (the
    transform is exact in float: only rounding may differ), on a few calibration samples."""
    worst = {site.tensor: 0.0 for site in sites}
    for a, b in zip(tensors.on_samples(float_data, calib_x, samples),
                    tensors.on_samples(smoothed, calib_x, samples)):
        na, nb = tensors.by_name(a), tensors.by_name(b)
        for site in sites:
            for consumer in site.consumers:
                ref, got = a.get_tensor(na[consumer]), b.get_tensor(nb[consumer])
                rel = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
                worst[site.tensor] = max(worst[site.tensor], rel)
    return [site.model_copy(update={"float_max_rel": worst[site.tensor]}) for site in sites]
