"""Attention's matmuls in a `matmuls` build: static int8 or float, measured on the runtime.

QK^T and attention x V multiply two activations, so no dynamic-range kernel takes them: int8
means static ranges (from the calibration samples) and QUANTIZE/DEQUANTIZE around each one. The
build makes both models, times them on the plan's runtime (one thread, median) and compares
their outputs with the float model's on calibration samples; static int8 is kept when it is no
slower (within SLOWER) and loses at most LOSS_DB of SNR. LiteRT's XNNPACK takes an int8
BATCH_MATMUL only with a symmetric right operand, so for LiteRT that operand's range is made
symmetric (zero point 0); with asymmetric ones the graph splits around TFLite's slow int8
kernel. The plan says which was chosen, with the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.inputs import batch as batches
from pipeline.progress import Quiet, Reporter
from pipeline.records.plan import AttentionChoice
from pipeline.tempdirs import temporary_directory
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import hybrid, tensors
from pipeline.tflite import macs as tflite_macs

SAMPLES = 32  # calibration samples for the ranges and for the comparison
SLOWER = 1.05  # static int8 may take this much of the float variant's time
LOSS_DB = 1.0  # and lose this much of its output SNR against float
REPEATS = 20
# Runtimes whose fast int8 BATCH_MATMUL needs zero point 0 on its right operand: LiteRT's
# XNNPACK takes an int8 BATCH_MATMUL only then (measured: 0.06-0.07 ms for MiniLM's
# two attention matmuls, against 0.70 ms in TFLite's own kernel when XNNPACK refuses it and
# 0.07-0.09 ms in float).
SYMMETRIC_RUNTIMES = ("litert",)


def activation_matmuls(graph: tflite_graph.Graph) -> list[tflite_graph.Op]:
    """The BATCH_MATMULs whose two operands are activations."""
    return [op for op in graph.ops if op.name == "BATCH_MATMUL"
            and not any(graph.is_constant(t) for t in op.inputs[:2] if t >= 0)]


def ranges(data: bytes, calib_x: batches.Inputs, symmetric_rhs: bool = False
           ) -> dict[str, tuple[float, float]]:
    """Min and max of every activation matmul's operands and output over SAMPLES samples, by
    tensor name. With `symmetric_rhs` the right operands' ranges are widened to
    [-128 a / 127, a] (a: their largest magnitude): the quantizer's asymmetric int8 then gives
    them zero point 0 and scale a / 127, what XNNPACK needs, while the left operand and the
    output keep their own zero points (the softmax's probabilities, all >= 0, would lose half
    their levels to a symmetric grid)."""
    graph = tflite_graph.parse(data, "float model")
    found = sorted({t for op in activation_matmuls(graph) for t in (*op.inputs[:2],
                                                                     *op.outputs)})
    lo = {t: np.inf for t in found}
    hi = {t: -np.inf for t in found}
    for interpreter in tensors.on_samples(data, calib_x, SAMPLES):
        for t in found:
            x = interpreter.get_tensor(t)
            lo[t], hi[t] = min(lo[t], float(x.min())), max(hi[t], float(x.max()))
    if symmetric_rhs:
        for t in {op.inputs[1] for op in activation_matmuls(graph)}:
            a = max(abs(lo[t]), abs(hi[t]))
            lo[t], hi[t] = -128.0 * a / 127.0, a
    return {graph.tensors[t].name: (lo[t], hi[t]) for t in found}


def _measure(models: dict[str, bytes], x: batches.Inputs, runtime: str
             ) -> tuple[dict[str, float], dict[str, list[np.ndarray]]]:
    """Median one-thread latency and the outputs of each model on the runtime."""
    times, outputs = {}, {}
    with temporary_directory("attention") as tmp:
        for name, data in models.items():
            path = Path(tmp) / f"{name}.tflite"
            path.write_bytes(data)
            if name != "float":
                times[name] = float(edge_client.bench(path, runtime, REPEATS)["median_ms"])
            arrays, _ = edge_client.run(path, x, runtime, Quiet())
            count = next(i for i in range(len(arrays) + 1) if f"y{i}" not in arrays)
            outputs[name] = [arrays[f"y{i}"] for i in range(count)]
    return times, outputs


def _snr(reference: list[np.ndarray], got: list[np.ndarray]) -> float:
    worst = metrics.worst_snr_db(reference, got)
    return float("inf") if worst is None else worst


def choose(float_model: bytes, hybrid_model: bytes, recipe: list[dict[str, Any]],
           calib_x: batches.Inputs, runtime: str, reporter: Reporter
           ) -> tuple[AttentionChoice | None, bytes, list[dict[str, Any]],
                      dict[str, tuple[float, float]]]:
    """(what was measured and chosen, the model, its recipe, the static ranges it needs); None
    and the hybrid model as it is when the model has no activation matmul."""
    graph = tflite_graph.parse(float_model, "float model")
    found = activation_matmuls(graph)
    if not found:
        return None, hybrid_model, recipe, {}
    total = sum(tflite_macs.macs(graph, op) for op in graph.ops)
    share = sum(tflite_macs.macs(graph, op) for op in found) / total if total else 0.0
    with reporter.phase(f"attention matmuls: static int8 against float on {runtime}"):
        static = ranges(float_model, calib_x, symmetric_rhs=runtime in SYMMETRIC_RUNTIMES)
        int8_recipe = recipe + hybrid.static_recipe(("BATCH_MATMUL",))
        int8_model = hybrid.quantize(float_model, int8_recipe, static)
        x = batches.take(calib_x, slice(0, SAMPLES))
        times, outputs = _measure({"float": float_model, "hybrid": hybrid_model,
                                   "int8": int8_model}, x, runtime)
    snr_float = _snr(outputs["float"], outputs["hybrid"])
    snr_int8 = _snr(outputs["float"], outputs["int8"])
    faster = times["int8"] <= times["hybrid"] * SLOWER
    kept = snr_int8 >= snr_float - LOSS_DB
    chosen = "int8" if faster and kept else "float"
    why = (f"static int8 took {times['int8']:.3g} ms against {times['hybrid']:.3g} ms with "
           f"them in float on {runtime} (one thread, median), and gave {snr_int8:.1f} dB "
           f"against {snr_float:.1f} dB on {batches.count(x)} calibration samples: "
           + ("no slower and as accurate" if chosen == "int8" else
              "slower" if not faster else "less accurate"))
    choice = AttentionChoice(ops=len(found), mac_share=share, chosen=chosen,
                             int8_ms=times["int8"], float_ms=times["hybrid"],
                             int8_snr_db=snr_int8, float_snr_db=snr_float, why=why)
    if chosen == "int8":
        return choice, int8_model, int8_recipe, static
    return choice, hybrid_model, recipe, {}
