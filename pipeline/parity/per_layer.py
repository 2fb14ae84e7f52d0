"""Per-layer parity: every layer output of the float reference against the matching tensor of
the quantized model, run with intermediate tensors preserved in the runtime's own process.

A Keras layer's tensor in the TFLite graph is the last op output whose name carries the layer's
name (`.../<layer>/...` or `.../<layer>_<n>/...`, as Keras names traced ops) and whose shape is
the layer's output shape at batch 1; the model's outputs match the graph's outputs by position.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import edge_client
from pipeline.inputs import batch
from pipeline.parity import metrics
from pipeline.progress import Reporter
from pipeline.records.parity import LayerRow, LayerTable
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph

# Enough samples for stable statistics, few enough that every tensor of a small model fits.
PER_LAYER_SAMPLES = 256
# RMSE / scale of uniform rounding noise is 1/sqrt(12) = 0.289: a healthy layer sits near it.
HEALTHY_RMSE_OVER_SCALE = 1 / np.sqrt(12)
# Under this cosine the tensor found by name is probably not the layer's output (the converter
# folded the layer's last op into the next one, e.g. a layer norm's scale into a matmul).
MATCH_MIN_COSINE = 0.9


@dataclass(frozen=True)
class LayerMatch:
    """A Keras layer and the TFLite tensor that holds its output."""

    layer: str
    layer_class: str
    tensor: int
    tensor_name: str
    scale: float | None
    gelu_site: bool


def _layers_with_outputs(model: Any) -> list[tuple[Any, Any]]:
    """(layer, its output in this model's graph) for the model's layers with one output tensor
    (not a nested model's dict or list), each called once. The output is taken from the
    model's own graph: a nested model's `.output` belongs to its inner graph."""
    from keras import KerasTensor

    calls: dict[int, list[Any]] = {}
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            calls.setdefault(id(node.operation), []).append(node)
    found = []
    for layer in model.layers:
        nodes = calls.get(id(layer), [])
        if layer.__class__.__name__ == "InputLayer" or len(nodes) != 1:
            continue  # a layer called several times has no one output
        outputs = nodes[0].outputs
        if len(outputs) == 1 and isinstance(outputs[0], KerasTensor):
            found.append((layer, outputs[0]))
    return found


def match_layers(model: Any, graph: tflite_graph.Graph, site_layers: set[str]
                 ) -> tuple[list[LayerMatch], list[str]]:
    """(matched layers in model order, names of layers with no tensor found)."""
    matches, unmatched = [], []
    outputs = {id(t): i for i, t in enumerate(model.outputs)}
    for layer, output in _layers_with_outputs(model):
        shape = (1, *tuple(output.shape)[1:])
        pattern = re.compile(rf"(^|[/;]){re.escape(layer.name)}(_\d+)?/")
        index = None
        if id(output) in outputs:
            index = graph.outputs[outputs[id(output)]]
        else:
            for op in graph.ops:
                for t in op.outputs:
                    tensor = graph.tensors[t]
                    if tensor.shape == shape and pattern.search(tensor.name):
                        index = t
        if index is None:
            unmatched.append(layer.name)
            continue
        t = graph.tensors[index]
        matches.append(LayerMatch(layer.name, layer.__class__.__name__, index, t.name, t.scale,
                                  layer.name in site_layers))
    return matches, unmatched


def float_outputs(model: Any, names: list[str], x: batch.Inputs) -> dict[str, np.ndarray]:
    """Each named layer's float output on `x`."""
    k = keras()
    # The probe takes the inputs as a flat list, in the model's (and the pipeline's) order.
    tensors = {layer.name: output for layer, output in _layers_with_outputs(model)}
    probe = k.Model(list(model.inputs), [tensors[n] for n in names])
    dtypes = [np.dtype(t.dtype) for t in model.inputs]
    arrays = [a.astype(d, copy=False) for a, d in zip(batch.as_list(x), dtypes)]
    ys = probe.predict(arrays, batch_size=256, verbose=0)
    ys = ys if isinstance(ys, list) else [ys]
    return {n: np.asarray(y) for n, y in zip(names, ys)}


def per_layer(model: Any, graph: tflite_graph.Graph, tflite_path: Path, x: batch.Inputs,
              runtime: str, site_layers: set[str], reporter: Reporter) -> LayerTable:
    """Per-layer error table (worst SNR first) and the layers that could not be matched."""
    matches, unmatched = match_layers(model, graph, site_layers)
    if not matches:
        return LayerTable(samples=0, unmatched=unmatched)
    x = batch.take(x, slice(0, PER_LAYER_SAMPLES))
    n = batch.count(x)
    reference = float_outputs(model, [m.layer for m in matches], x)
    quantized = edge_client.tensors(tflite_path, x, runtime, sorted({m.tensor for m in matches}),
                                    reporter)
    rows = []
    for m in matches:
        ref = reference[m.layer].reshape(n, -1)
        q = quantized[m.tensor].reshape(n, -1)
        found = metrics.compare(ref, q, m.scale)
        rows.append(LayerRow(**asdict(m), metrics=found,
                             rmse_over_scale=found.rmse / m.scale if m.scale else None,
                             match="doubtful" if found.cosine < MATCH_MIN_COSINE else "ok"))
    # Worst first; doubtful matches last, they say nothing about the layer.
    rows.sort(key=lambda r: (r.match != "ok",
                             r.metrics.snr_db if r.metrics.snr_db is not None else np.inf))
    return LayerTable(samples=int(n), layers=rows, unmatched=unmatched,
                      healthy_rmse_over_scale=float(HEALTHY_RMSE_OVER_SCALE))
