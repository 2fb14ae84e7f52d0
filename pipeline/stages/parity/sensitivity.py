"""`--sensitivity N`: for the N worst layers, the end-to-end metric with that one layer kept in
float (AIMET-style), to tell the user what a fix would buy. The selectively quantized models
come from TFLite's QuantizationDebugger (`denylisted_nodes`); they run on the target runtime in
its own process like every other model (their inputs and outputs are float)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.inputs import batch
from pipeline.inputs.signature import describe
from pipeline.progress import Quiet, Reporter
from pipeline.records.parity import SensitivityRow
from pipeline.tempdirs import temporary_directory
from pipeline.tfenv import captured_native_output, tensorflow
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import quantize_modes
from pipeline.tflite.converter import concrete_function

CALIBRATION_SAMPLES = None  # all of x_calib, as the convert stage uses


def _layer_nodes(graph: tflite_graph.Graph, layer: str, tensor_name: str) -> list[str]:
    """Output tensor names of the layer's ops: named after it, or its matched output tensor."""
    pattern = re.compile(rf"(^|[/;]){re.escape(layer)}(_\d+)?/")
    return [name for op in graph.ops if op.outputs
            for name in [graph.tensors[op.outputs[0]].name]
            if pattern.search(name) or name == tensor_name]


def _keep_float(approx_model: Any, quantize: str, calib_x: batch.Inputs, nodes: list[str]
                ) -> bytes:
    tf = tensorflow()
    signature = describe(approx_model)
    fn = concrete_function(approx_model, signature, batch.sample_shapes(calib_x), 1)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    calib = [a[:CALIBRATION_SAMPLES].astype(t.dtype, copy=False)
             for a, t in zip(batch.as_list(calib_x), signature.inputs)]

    def representative() -> Any:
        for i in range(len(calib[0])):
            yield [a[i:i + 1] for a in calib]

    quantize_modes.get(quantize).configure(converter, tf, representative)
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
    with captured_native_output():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative, debug_options=options)
        return debugger.get_nondebug_quantized_model()


def run(model: Any, graph: tflite_graph.Graph, quantize: str,
        worst_layers: list[tuple[str, str]], x: batch.Inputs, y_float: list[np.ndarray],
        calib_x: batch.Inputs, runtime: str, reporter: Reporter) -> list[SensitivityRow]:
    """One row per (layer, its output tensor's name): the end-to-end SNR and max error with
    that layer of the replaced `model` in float."""
    mode = quantize_modes.get(quantize)
    if not mode.full_integer:
        return []
    rows = []
    with reporter.task("sensitivity", len(worst_layers)) as advance, \
            temporary_directory("sensitivity") as tmp:
        for i, (layer, tensor_name) in enumerate(worst_layers):
            nodes = _layer_nodes(graph, layer, tensor_name)
            note = "" if nodes else "no ops of this layer found"
            if nodes:
                try:
                    data = _keep_float(model, quantize, calib_x, nodes)
                except ValueError as exc:  # the debugger found nothing to verify around it
                    note = f"TFLite's QuantizationDebugger cannot keep it in float ({exc})"
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
