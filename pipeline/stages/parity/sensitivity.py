"""`--sensitivity N`: for the N worst layers, the end-to-end metric with that one layer kept in
float (AIMET-style), to tell the user what a fix would buy. The selectively quantized models
are quantized from the plan (quant_plan.json: the same calibration samples, ranges and float
layers as model.tflite, plus the one layer), through the converter's own quantizer
(`denylisted_nodes`); they run on the target runtime in its own process like every other
model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.inputs import batch
from pipeline.progress import Quiet, Reporter
from pipeline.records.parity import SensitivityRow
from pipeline.records.plan import QuantPlan
from pipeline.tempdirs import temporary_directory
from pipeline.tflite import calibrate, placement, quantize_modes
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model


def _layer_nodes(graph: tflite_graph.Graph, layer: str, tensor_name: str) -> list[str]:
    """Output tensor names of the layer's ops: named after it, or its matched output tensor."""
    pattern = re.compile(rf"(^|[/;]){re.escape(layer)}(_\d+)?/")
    return [name for op in graph.ops if op.outputs
            for name in [graph.tensors[op.outputs[0]].name]
            if pattern.search(name) or name == tensor_name]


def _calibrated(approx_model: Any, plan: QuantPlan, calib_x: batch.Inputs
                ) -> calibrate.Calibrated:
    """The replaced model calibrated on the samples the plan calibrated on, as convert did."""
    calib = batch.take(calib_x, slice(0, plan.calibration_samples)) \
        if plan.calibration_samples else calib_x
    return calibrate.Calibrated.read(convert_model(approx_model, plan.mode, calib, plan.batch,
                                                   Quiet(), calibrate_only=True))


def unavailable(plan: QuantPlan) -> str | None:
    """Why --sensitivity cannot measure this build's model, or None when it can: it quantizes
    the model again through TensorFlow's quantizer with one layer in float."""
    if plan.placement != placement.INTEGER:
        return (f"the {plan.placement} placement keeps every op but the matrix ops in float "
                "already; --sensitivity measures all-integer builds")
    if not quantize_modes.get(plan.mode).full_integer:
        return f"--quantize {plan.mode} is not a full-integer mode"
    if plan.int16_nodes:
        return ("an --int16-norms model is made by ai-edge-quantizer, and --sensitivity "
                "quantizes through TensorFlow's quantizer: it would measure another model")
    return None


def run(model: Any, graph: tflite_graph.Graph, plan: QuantPlan,
        worst_layers: list[tuple[str, str]], x: batch.Inputs, y_float: list[np.ndarray],
        calib_x: batch.Inputs, runtime: str, reporter: Reporter) -> list[SensitivityRow]:
    """One row per (layer, its output tensor's name): the end-to-end SNR and max error with
    that layer of the replaced `model` in float, the rest as the plan made model.tflite (its
    ranges and its float layers)."""
    if unavailable(plan):
        return []
    rows = []
    calibrated = _calibrated(model, plan, calib_x)
    with reporter.task("sensitivity", len(worst_layers)) as advance, \
            temporary_directory("sensitivity") as tmp:
        for i, (layer, tensor_name) in enumerate(worst_layers):
            nodes = _layer_nodes(graph, layer, tensor_name)
            note = "" if nodes else "no ops of this layer found"
            if nodes:
                try:
                    data = calibrate.quantize(calibrated, plan.mode, dict(plan.ranges) or None,
                                              [*plan.float_nodes, *nodes])
                except Exception as exc:  # noqa: BLE001 (the quantizer's own errors)
                    note = f"the quantizer cannot keep it in float ({str(exc).splitlines()[0]})"
            if note:
                rows.append(SensitivityRow(layer=layer, kept_float_ops=0, snr_db=None,
                                           max_abs_error=None, note=note))
                advance(1)
                continue
            path = Path(tmp) / f"layer{i}.tflite"  # a layer path holds "/": not a file name
            path.write_bytes(data)
            arrays, _ = edge_client.run(path, x, runtime, Quiet())
            ref = np.concatenate([y.reshape(len(y), -1) for y in y_float], axis=1)
            got = np.concatenate([arrays[f"y{i}"].reshape(len(y), -1)
                                  for i, y in enumerate(y_float)], axis=1)
            rows.append(SensitivityRow(layer=layer, kept_float_ops=len(nodes),
                                       snr_db=metrics.snr_db(ref, got, None),
                                       max_abs_error=metrics.max_abs_error(ref, got, None)))
            advance(1)
    return rows
