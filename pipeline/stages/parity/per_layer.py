"""Per-layer parity: every layer's float output against the quantized model's tensor that holds
it, layers at any depth (inside nested models and custom layers too), matched by their data.

The float side is the replaced model (the one that was quantized), its layers' outputs
recorded while it runs eagerly. The int8 side runs in the runtime's own process with every
intermediate tensor kept. A layer's tensor is the candidate that agrees with it best (cosine):
candidates are the op outputs with as many values per sample as the layer's output, narrowed to
those whose name carries the layer's name when there are any. The converter renames, fuses and
folds ops, so names alone point at the wrong tensor too often; data does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.inputs import batch
from pipeline.inputs.signature import describe
from pipeline.progress import Reporter
from pipeline.records.parity import FirstJump, LayerRow, LayerTable
from pipeline.rewrites import keras_graph
from pipeline.tflite import graph as tflite_graph

# Samples the per-layer figures use: enough for stable statistics; fewer for big models, so
# every matched tensor of every sample fits in MEMORY_BUDGET.
PER_LAYER_SAMPLES = 256
MATCH_SAMPLES = 8  # samples the matching itself looks at
RECORD_BATCH = 32  # samples per eager call while recording
MEMORY_BUDGET = 256 * 2**20  # bytes of float32 tensors kept at once, per side
# RMSE / scale of uniform rounding noise is 1/sqrt(12) = 0.289: a healthy layer sits near it.
HEALTHY_RMSE_OVER_SCALE = 1 / np.sqrt(12)
# Under this cosine even the best candidate is not the layer's output (the converter folded
# the layer into its neighbours): the layer is listed as without a tensor.
MATCH_MIN_COSINE = 0.9
# A candidate that agrees in direction but holds the output times a constant the converter
# folded in (attention's 1/sqrt(d) into the query projection): marked, not compared.
SCALE_TOLERANCE = 0.1
SCALED_MIN_COSINE = 0.98  # the scale is read only where the direction agrees this well
# The error "jumps" at the first layer whose SNR falls JUMP_DB under the previous layer's to
# below JUMP_CEILING_DB, or under JUMP_FLOOR_DB (the default gate): where to look first.
JUMP_DB = 6.0
JUMP_CEILING_DB = 30.0
JUMP_FLOOR_DB = 20.0
# Classes not compared: containers (their inner layers' rows say more) and layers that pass
# their input on unchanged at inference.
SKIPPED = ("Functional", "Sequential", "Model", "InputLayer", "Dropout", "SpatialDropout1D",
           "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
           "ActivityRegularization", "Identity")


@dataclass
class Recorded:
    """A layer's float output over the samples, in the order the layers ran."""

    path: str
    layer: Any
    values: np.ndarray  # [samples, values per sample]


def record_outputs(model: Any, x: batch.Inputs, only: set[str] | None = None
                   ) -> list[Recorded]:
    """Every layer's output (one tensor, at any depth; the layers in `only`, if given) on `x`,
    recorded while the model runs eagerly, in execution order; layers called more than once
    per sample are left out."""
    import keras

    layers = [(p, layer) for p, layer in keras_graph.walk(model)
              if type(layer).__name__ not in SKIPPED and (only is None or p in only)]
    seen: dict[int, list[np.ndarray]] = {}
    order: list[int] = []

    def recorder(i: int, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            y = fn(*args, **kwargs)
            flat = keras.tree.flatten(y)
            if len(flat) == 1 and flat[0] is not None:
                if i not in seen:
                    order.append(i)
                seen.setdefault(i, []).append(np.asarray(keras.ops.convert_to_numpy(flat[0])))
            return y
        return call

    signature = describe(model)
    with keras_graph.wrapping([(layer, "call") for _, layer in layers], recorder):
        for start in range(0, batch.count(x), RECORD_BATCH):
            signature.call(model, batch.take(x, slice(start, start + RECORD_BATCH)))
    found = []
    for i in order:
        values = np.concatenate(seen[i])
        if len(values) == batch.count(x):
            found.append(Recorded(layers[i][0], layers[i][1],
                                  values.reshape(len(values), -1).astype(np.float32)))
    return found


def _candidates(graph: tflite_graph.Graph, rec: Recorded) -> tuple[list[int], bool]:
    """(the op outputs that may hold the layer's output, whether they carry its name)."""
    size = rec.values.shape[1]
    produced = [t for op in graph.ops for t in op.outputs
                if int(np.prod(graph.tensors[t].shape)) == size and graph.tensors[t].shape
                and graph.tensors[t].shape[0] == 1]
    leaf = rec.path.split("/")[-1]
    own = {t: tflite_graph.own_name(graph.tensors[t].name) for t in produced}
    named = [t for t in produced if f"/{leaf}_" in own[t] or f"/{leaf}/" in own[t]
             or own[t].startswith(leaf)]
    return (named, True) if named else (produced, False)


def _fit(ref: np.ndarray, test: np.ndarray) -> tuple[float, float, float]:
    """(cosine, closeness: minus the relative squared error, the least-squares scale from test
    to ref)."""
    cosine = metrics.cosine(ref, test, None)
    power = float(np.sum(np.asarray(ref, np.float64) ** 2)) or 1.0
    closeness = -float(np.sum((np.asarray(test, np.float64) - ref) ** 2)) / power
    denominator = float(np.sum(np.asarray(test, np.float64) ** 2))
    scale = float(np.sum(np.asarray(test, np.float64) * ref)) / denominator if denominator else 1.0
    return cosine, closeness, scale


def per_layer(model: Any, graph: tflite_graph.Graph, tflite_path: Path, x: batch.Inputs,
              runtime: str, gelu_layers: set[str], reporter: Reporter) -> LayerTable:
    """Per-layer error table (worst SNR first), the layers with no tensor, and where the error
    first jumps."""
    sample = batch.take(x, slice(0, MATCH_SAMPLES))
    recorded = record_outputs(model, sample)
    candidates = {r.path: _candidates(graph, r) for r in recorded}
    wanted = sorted({t for ts, _ in candidates.values() for t in ts})
    if not wanted:
        return LayerTable(samples=0, unmatched=[r.path for r in recorded])
    reporter.info(f"per-layer parity: matching {len(recorded)} layers among {len(wanted)} "
                  "tensors by their data")
    dumped = edge_client.tensors(tflite_path, sample, runtime, wanted, reporter)
    scales: dict[str, float] = {}
    chosen: dict[str, int] = {}
    unmatched = []
    for r in recorded:
        ts, named = candidates[r.path]
        scored = [(_fit(r.values, dumped[t].reshape(len(r.values), -1)), t) for t in ts]
        # A tensor named after the layer holds its output, however far quantization moved it;
        # among unnamed ones only a close enough one does.
        good = scored if named else [(fit, t) for fit, t in scored
                                     if fit[0] >= MATCH_MIN_COSINE]
        if not good:
            unmatched.append(r.path)
            continue
        # The candidate closest to the layer's values; among near-equal ones the last computed.
        best = max(fit[1] for fit, _ in good)
        chosen[r.path] = max(t for fit, t in good if fit[1] >= best - 1e-6)
        fit = next(fit for fit, t in good if t == chosen[r.path])
        scales[r.path] = fit[2] if fit[0] >= SCALED_MIN_COSINE else 1.0
    del dumped
    bytes_per_sample = 4 * sum(r.values.shape[1] for r in recorded if r.path in chosen)
    n = min(batch.count(x), PER_LAYER_SAMPLES, max(MATCH_SAMPLES,
                                                   MEMORY_BUDGET // max(bytes_per_sample, 1)))
    x_n = batch.take(x, slice(0, n))
    recorded = (record_outputs(model, x_n, set(chosen)) if n != MATCH_SAMPLES
                else [r for r in recorded if r.path in chosen])
    quantized = edge_client.tensors(tflite_path, x_n, runtime, sorted(set(chosen.values())),
                                    reporter)
    rows = []
    for r in recorded:
        if r.path not in chosen:
            continue
        t = graph.tensors[chosen[r.path]]
        found = metrics.compare(r.values, quantized[chosen[r.path]].reshape(n, -1), t.scale)
        rows.append(LayerRow(layer=r.path, layer_class=type(r.layer).__name__,
                             tensor=chosen[r.path], tensor_name=t.name, scale=t.scale,
                             gelu_site=r.path in gelu_layers, metrics=found,
                             rmse_over_scale=found.rmse / t.scale if t.scale else None,
                             match="ok" if abs(scales[r.path] - 1.0) <= SCALE_TOLERANCE
                             else "scaled"))
    jump = first_jump(rows)
    # Worst first; scaled matches last, their figures compare a folded tensor.
    rows.sort(key=lambda row: (row.match != "ok", row.metrics.snr_db
                               if row.metrics.snr_db is not None else np.inf))
    return LayerTable(samples=int(n), layers=rows, unmatched=unmatched,
                      healthy_rmse_over_scale=float(HEALTHY_RMSE_OVER_SCALE), first_jump=jump)


def first_jump(rows: list[LayerRow]) -> FirstJump | None:
    """In execution order, the first layer whose SNR falls JUMP_DB under the one before it or
    under JUMP_FLOOR_DB, with advice for its kind of layer."""
    previous = None
    for row in rows:
        snr = row.metrics.snr_db
        if row.match != "ok" or snr is None:
            continue
        if snr < JUMP_FLOOR_DB or (previous is not None and snr < previous - JUMP_DB
                                   and snr < JUMP_CEILING_DB):
            return FirstJump(layer=row.layer, layer_class=row.layer_class, snr_db=snr,
                             previous_snr_db=previous, advice=advice(row))
        previous = snr
    return None


ADVICE = {
    "LayerNorm": "layer norm in int8 loses the small channels beside outlier ones: try "
                          "--calibration-method auto; on a CPU target --recover keeps it in "
                          "float, on coral --host-float",
    "Attention": "check the attention-mask rewrite is on (--rewrites all), try "
                          "--calibration-method auto; on a CPU target --recover",
    "Add": "the residual sum carries outlier channels: try --calibration-method mse; on a CPU "
           "target --recover keeps the residual adds in float, on coral --host-float",
}


def advice(row: LayerRow) -> str:
    """What would fix a layer where the error jumps."""
    if row.gelu_site:
        return ("a GELU site: see its int8 error in the GELU sites table; another --approx, or "
                "--calibration-method auto")
    for name, text in ADVICE.items():
        if name in row.layer_class:
            return text
    return ("try --calibration-method auto (ranges that fit the data); on a CPU target "
            "--recover keeps the layers that need it in float")
