"""What int8 buys: the share of multiply-accumulates computed in integer arithmetic, the ops left
in float and why, and, on this machine's runtime, the quantized model's latency and size against
a float32 TFLite of the same replaced model (converted here, never saved as an artifact)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.device import edge_client
from pipeline.errors import CheckFailed, UserError
from pipeline.inputs import batch as batches
from pipeline.progress import Quiet, Reporter
from pipeline.records.convert import Recovery
from pipeline.records.parity import FloatOpGroup, Gains, Latency, MacShare
from pipeline.tempdirs import temporary_directory
from pipeline.tflite import converter, quantize_modes
from pipeline.tflite import macs as tflite_macs
from pipeline.tflite.checks import ISLAND_FIXES, float_ops
from pipeline.tflite.graph import FLOAT_TYPES, Graph

# Invokes timed per model (after the runner's warm-up ones), one thread, and the cap on their
# total: a big model stops early rather than adding seconds to every build.
REPEATS = 20
MAX_BENCH_SECONDS = 1.0
WHOLE_MODEL_FLOAT = {
    "none": "the whole model is float32 (--quantize none)",
    "float16": "the whole model computes in float (--quantize float16: float16 weights)",
    "dynamic": "float activations (--quantize dynamic, or int8 with the matrix ops placed "
               "int8: int8 weights and multiply-accumulates there)",
}
HYBRID = ("hybrid (dynamic range): int8 weights and multiply-accumulates, the float input "
          "quantized on the fly, float output")
DYNAMIC_FLOAT_WEIGHTS = "--quantize dynamic left its weights in float"
ACTIVATIONS_ONLY = ("both operands are activations (attention's scores and weighted sum): "
                    "dynamic-range kernels need constant weights")
KEPT_BY_RECOVER = "kept in float by --recover"
FLOAT_IO = "the model's float input or output"
ISLAND = "a float island the converter left (DEQUANTIZE/QUANTIZE around it)"


@dataclass(frozen=True)
class Where:
    """Where parity ran, as far as latency is concerned: None for `skip` means it may be
    measured here; otherwise the reason it is not."""

    runtime: str
    machine: str
    skip: str | None = None


def mac_shares(graph: Graph) -> list[MacShare]:
    """The matrix ops' MACs per kind of arithmetic, in `macs.KINDS` order."""
    ops: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for op in graph.ops:
        if op.name in tflite_macs.MAC_OPS:
            kind = tflite_macs.kind(graph, op)
            ops[kind] += 1
            count[kind] += tflite_macs.macs(graph, op)
    return [MacShare(kind=k, ops=ops[k], macs=count[k]) for k in tflite_macs.KINDS if ops[k]]


def _kept(scope: str, kept_float: list[str]) -> bool:
    return any(scope == k or scope.startswith(k + "/") for k in kept_float)


def float_op_groups(graph: Graph, mode: str, kept_float: list[str]) -> list[FloatOpGroup]:
    """The ops that touch a float tensor, by op name and reason, most first; `kept_float`:
    the layer scopes --recover kept in float."""
    whole = None if quantize_modes.get(mode).full_integer else WHOLE_MODEL_FLOAT.get(mode)
    io = set(graph.inputs) | set(graph.outputs)
    found: Counter[tuple[str, str]] = Counter()
    for i in float_ops(graph):
        op = graph.ops[i]
        floats = {t for t in op.inputs + op.outputs
                  if t >= 0 and graph.tensors[t].dtype in FLOAT_TYPES}
        if mode == "dynamic" and op.name in tflite_macs.MAC_OPS:
            if tflite_macs.kind(graph, op) == "hybrid":
                reason = HYBRID
            elif not any(graph.is_constant(t) for t in op.inputs[:2] if t >= 0):
                reason = ACTIVATIONS_ONLY
            else:
                reason = DYNAMIC_FLOAT_WEIGHTS
        elif whole:
            reason = whole
        elif _kept(graph.origin(op), kept_float):
            reason = KEPT_BY_RECOVER
        elif floats <= io:
            reason = FLOAT_IO
        else:
            fix = ISLAND_FIXES.get(op.name)
            reason = ISLAND + (f"; {fix} removes it" if fix else "")
        found[(op.name, reason)] += 1
    return [FloatOpGroup(op=name, count=n, reason=reason)
            for (name, reason), n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))]


def _latency(path: Path, runtime: str) -> Latency:
    found = edge_client.bench(path, runtime, REPEATS, max_seconds=MAX_BENCH_SECONDS)
    return Latency(median_ms=float(found["median_ms"]), min_ms=float(found["min_ms"]),
                   repeats=int(found["repeats"]), threads=int(found["threads"]))


def _float_tflite(replaced: Any, calib_x: batches.Inputs, batch: int) -> bytes:
    """The replaced model as float32 TFLite, the converter's defaults (no calibration)."""
    return converter.convert_model(replaced, "none", calib_x, batch, Quiet())


def measure(graph: Graph, tflite_path: Path, mode: str, recovery: Recovery | None,
            replaced: Any, calib_x: batches.Inputs, batch: int, where: Where,
            reporter: Reporter) -> Gains:
    """The gains of model.tflite over float: MACs and float ops from its graph; the float32
    TFLite's size; both models' latency when `where` allows it."""
    notes: list[str] = []
    kept = recovery.kept_float if recovery else []
    shares, groups = mac_shares(graph), float_op_groups(graph, mode, kept)
    float_bytes = None
    with temporary_directory("gains") as tmp:
        float_path = Path(tmp) / "model_float32.tflite"
        if mode != "none":
            try:
                with reporter.phase("float32 TFLite for comparison"):
                    float_path.write_bytes(_float_tflite(replaced, calib_x, batch))
                float_bytes = float_path.stat().st_size
            except (CheckFailed, UserError) as exc:
                notes.append(f"no float32 TFLite to compare with: {str(exc).splitlines()[0]}")
        else:
            notes.append("model.tflite is the float32 model (--quantize none): no float "
                         "model to compare with")
        if where.skip:
            notes.append(f"latency not measured: {where.skip}")
            return Gains(macs=shares, float_ops=groups, float_tflite_bytes=float_bytes,
                         notes=notes)
        try:
            with reporter.phase(f"latency on {where.runtime}, one thread"):
                quantized = _latency(tflite_path, where.runtime)
                floating = _latency(float_path, where.runtime) if float_bytes else None
            version = edge_client.runtime_info(where.runtime)["version"]
        except CheckFailed as exc:
            notes.append(f"latency not measured: {str(exc).splitlines()[0]}")
            return Gains(macs=shares, float_ops=groups, float_tflite_bytes=float_bytes,
                         notes=notes)
    return Gains(macs=shares, float_ops=groups, float_tflite_bytes=float_bytes,
                 runtime=f"{where.runtime} {version}", machine=where.machine,
                 quantized_latency=quantized, float_latency=floating, notes=notes)
