"""Attention's matmuls in a `matmuls` build: static int8 or float, chosen by measured accuracy.

QK^T and attention x V multiply two activations, so no dynamic-range kernel takes them: int8
means static ranges (from the calibration samples) and QUANTIZE/DEQUANTIZE around each one.
Two int8 variants are made: one scale per tensor, and one per head (pipeline.tflite.heads:
each head's operands and scores calibrated apart; a head whose scores span far more than the
others' then costs the rest nothing). The build compares their outputs and those of the model
with the matmuls in float with the float model's on calibration samples. `--quantize int8`
asks for int8 matmuls: they are given unless the most accurate int8 variant loses more than
LOSS_DB of output SNR against float matmuls. The choice uses accuracy only, so the same
samples give the same model on every run (timings on a shared machine move by 10-20 %). The
three variants and the float model are also timed on the plan's runtime (one thread, median)
and the plan and report say what int8 attention costs or saves, and that `--attention float`
keeps them float. LiteRT's XNNPACK takes an int8 BATCH_MATMUL only with a symmetric right
operand, so for LiteRT that operand's range is made symmetric (zero point 0); with asymmetric
ones the graph splits around TFLite's slow int8 kernel.
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
from pipeline.tflite import heads, hybrid, tensors
from pipeline.tflite import macs as tflite_macs

SAMPLES = 32  # calibration samples for the ranges and for the comparison
LOSS_DB = 3.0  # int8 attention may lose this much output SNR against float matmuls
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


def split_per_head(data: bytes) -> bytes:
    """The float model with every activation x activation BATCH_MATMUL split per head."""
    graph = tflite_graph.parse(data, "float model")
    found = {id(op) for op in activation_matmuls(graph)}
    return heads.split(data, [i for i, op in enumerate(graph.ops) if id(op) in found])


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
    lo, hi = tensors.min_max(data, calib_x, found, SAMPLES)
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
            times[name] = float(edge_client.bench(path, runtime, REPEATS)["median_ms"])
            arrays, _ = edge_client.run(path, x, runtime, Quiet())
            count = next(i for i in range(len(arrays) + 1) if f"y{i}" not in arrays)
            outputs[name] = [arrays[f"y{i}"] for i in range(count)]
    return times, outputs


def _snr(reference: list[np.ndarray], got: list[np.ndarray]) -> float:
    worst = metrics.worst_snr_db(reference, got)
    return float("inf") if worst is None else worst


MODES = ("auto", "int8", "float")  # --attention: measured, or forced (the figures all the same)


def choose(float_model: bytes, hybrid_model: bytes, recipe: list[dict[str, Any]],
           calib_x: batches.Inputs, runtime: str, reporter: Reporter, mode: str = "auto"
           ) -> tuple[AttentionChoice | None, bytes, list[dict[str, Any]],
                      dict[str, tuple[float, float]]]:
    """(what was measured and chosen, the model, its recipe, the static ranges it needs); None
    and the hybrid model as it is when the model has no activation matmul. `mode` int8 or
    float (--attention) takes that choice whatever the rule says; the figures are the same."""
    graph = tflite_graph.parse(float_model, "float model")
    found = activation_matmuls(graph)
    if not found:
        return None, hybrid_model, recipe, {}
    total = sum(tflite_macs.macs(graph, op) for op in graph.ops)
    share = sum(tflite_macs.macs(graph, op) for op in found) / total if total else 0.0
    symmetric = runtime in SYMMETRIC_RUNTIMES
    int8_recipe = recipe + hybrid.static_recipe(("BATCH_MATMUL",))
    with reporter.phase(f"attention matmuls: static int8 against float on {runtime}"):
        static = ranges(float_model, calib_x, symmetric_rhs=symmetric)
        split = split_per_head(float_model)
        static_heads = ranges(split, calib_x, symmetric_rhs=symmetric)
        x = batches.take(calib_x, slice(0, SAMPLES))
        models = {"float": float_model, "hybrid": hybrid_model,
                  "int8": hybrid.quantize(float_model, int8_recipe, static),
                  "heads": hybrid.quantize(split, int8_recipe, static_heads)}
        times, outputs = _measure(models, x, runtime)
    snr = {name: _snr(outputs["float"], outputs[name]) for name in ("hybrid", "int8", "heads")}

    def passes(name: str) -> bool:
        return snr[name] >= snr["hybrid"] - LOSS_DB

    # The most accurate int8 variant, kept while it passes (accuracy alone: stable from run to
    # run); what --attention int8 takes either way.
    best = max(("int8", "heads"), key=lambda name: (snr[name], name == "heads"))
    measured = "int8" if passes(best) else "float"
    chosen = measured if mode == "auto" else mode
    kind = "static int8 with scales per head" if best == "heads" else \
        "static int8 with one scale per tensor"
    other = "int8" if best == "heads" else "heads"
    other_kind = "one scale per tensor" if other == "int8" else "scales per head"
    if times[best] <= times["hybrid"]:
        cost = "no slower than float matmuls"
    elif times[best] < times["float"]:
        cost = (f"{times[best] / times['hybrid'] - 1:.0%} slower than float matmuls, still "
                f"{times['float'] / times[best]:.1f}x faster than the float model; "
                "--attention float keeps them float")
    else:
        cost = "slower than the float model; --attention float keeps them float"
    why = (f"{kind} gave {snr[best]:.1f} dB against {snr['hybrid']:.1f} dB with them in float "
           f"on {batches.count(x)} calibration samples ({other_kind}: {snr[other]:.1f} dB): "
           + (f"within the {LOSS_DB:g} dB int8 may lose" if measured == "int8" else
              f"more than the {LOSS_DB:g} dB int8 may lose")
           + f". Time on {runtime} (one thread, median): {times[best]:.3g} ms against "
           f"{times['hybrid']:.3g} ms with them in float and {times['float']:.3g} ms for the "
           f"float model ({other_kind}: {times[other]:.3g} ms)"
           + (f": {cost}" if chosen == "int8" else "")
           + ("" if mode == "auto" else
              f"; {mode} as --attention {mode} asks (the rule alone gives {measured})"))
    choice = AttentionChoice(ops=len(found), mac_share=share, chosen=chosen,
                             int8_ms=times[best], float_ms=times["hybrid"],
                             int8_snr_db=snr[best], float_snr_db=snr["hybrid"], why=why,
                             per_head=best == "heads", heads_ms=times["heads"],
                             heads_snr_db=snr["heads"], model_float_ms=times["float"],
                             per_tensor_ms=times["int8"], per_tensor_snr_db=snr["int8"])
    if chosen == "float":
        return choice, hybrid_model, recipe, {}
    return choice, models[best], int8_recipe, static_heads if best == "heads" else static
