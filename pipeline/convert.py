"""Stage 3, convert: TFLite conversion with post-training quantization, then graph checks."""

from __future__ import annotations

from typing import Any

from pipeline import approximations, artifacts
from pipeline.context import Context
from pipeline.errors import CheckFailed, UserError
from pipeline.inputs import batch as batches
from pipeline.inputs.signature import Signature, describe
from pipeline.progress import Reporter
from pipeline.records import ApproximateRecord, ConvertRecord, IOTensor
from pipeline.tfenv import captured_native_output, tensorflow
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import quantize_modes
from pipeline.tflite.checks import run_checks, unreplaced_gelu

DEFAULT_BATCH = 1


def io_tensors(graph: tflite_graph.Graph, signature: Signature) -> tuple[list[IOTensor],
                                                                         list[IOTensor]]:
    """The converted model's inputs and outputs, named as the Keras model names them."""
    def one(index: int, name: str) -> IOTensor:
        t = graph.tensors[index]
        return IOTensor(name=name, dtype=t.dtype, shape=list(t.shape),
                        scale=t.scale or None, zero_point=t.zero_point if t.scale else None)

    return ([one(i, n) for i, n in zip(graph.inputs, signature.input_names)],
            [one(i, n) for i, n in zip(graph.outputs, signature.output_names)])


def input_specs(signature: Signature, sample_shapes: list[tuple[int, ...]], batch: int
                ) -> list[Any]:
    """One TensorSpec per model input: its own dtype (integer inputs stay integer), the batch
    fixed, and dimensions the model leaves open taken from the data."""
    tf = tensorflow()
    return [tf.TensorSpec([batch, *shape], tf.as_dtype(info.dtype), name=info.name)
            for info, shape in zip(signature.inputs, sample_shapes)]


def open_dimensions(signature: Signature, sample_shapes: list[tuple[int, ...]]) -> list[str]:
    """'input: (None, 64) -> (64,)' for each input whose open dimensions the data fixes."""
    return [f"{info.name} {tuple(info.sample_shape)} -> {tuple(shape)}"
            for info, shape in zip(signature.inputs, sample_shapes)
            if None in info.sample_shape]


def concrete_function(model: Any, signature: Signature, sample_shapes: list[tuple[int, ...]],
                      batch: int) -> Any:
    """The model as a frozen TF concrete function with a fixed batch (what the converter takes);
    it returns the model's outputs flat, in the signature's order."""
    tf = tensorflow()
    from keras import tree
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    specs = input_specs(signature, sample_shapes, batch)
    # TFLite keeps this argument order (and the names) for the model's inputs, and the order
    # of the returned list for its outputs.
    fn = tf.function(lambda *xs: tree.flatten(model(signature.structure(list(xs)),
                                                    training=False))).get_concrete_function(*specs)
    # Freezing keeps variables out of the TFLite graph (no READ_VARIABLE during calibration).
    return convert_variables_to_constants_v2(fn)


def convert_model(model: Any, mode_name: str, calib_x: batches.Inputs, batch: int,
                  reporter: Reporter) -> bytes:
    """Convert a Keras model to TFLite bytes with the given quantization mode."""
    tf = tensorflow()
    mode = quantize_modes.get(mode_name)
    signature = describe(model)
    arrays = batches.as_list(calib_x)
    shapes = batches.sample_shapes(calib_x)
    for fixed in open_dimensions(signature, shapes):
        reporter.info(f"input {fixed}: the model leaves these dimensions open; converting with "
                      "the data's (TFLite needs fixed shapes)")
    with reporter.phase("tracing the model"):
        fn = concrete_function(model, signature, shapes, batch)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    n = (len(arrays[0]) // batch) * batch
    if mode.needs_calibration and n == 0:
        raise UserError(f"calibration needs at least {batch} samples; x_calib has "
                        f"{len(arrays[0])}")
    dtypes = [info.dtype for info in signature.inputs]

    def representative() -> Any:
        with reporter.task("calibrating", n // batch) as advance:
            for i in range(0, n, batch):
                yield [a[i:i + batch].astype(d, copy=False) for a, d in zip(arrays, dtypes)]
                advance(1)

    mode.configure(converter, tf, representative)
    with captured_native_output() as log, reporter.phase(f"TFLite converter ({mode_name})"):
        try:
            return converter.convert()
        except Exception as exc:
            error = exc
    detail = next((ln for ln in reversed(log) if "error" in ln.lower()), "")
    first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    raise CheckFailed(f"TFLite conversion with --quantize {mode_name} failed: {first} {detail}".strip())


def run(ctx: Context, mode_name: str, reporter: Reporter, batch: int = DEFAULT_BATCH
        ) -> ConvertRecord:
    """Convert the replaced model, write model.tflite and convert.json, and check the graph. A
    failed check does not stop the stage: its record says which, and the gate fails on it."""
    mode = quantize_modes.get(mode_name)
    approximated = ctx.record(ApproximateRecord)
    approx = approximations.get(approximated.approx)
    model = ctx.replaced()
    calib_x = ctx.data.x_calib
    data = convert_model(model, mode_name, calib_x, batch, reporter)
    graph = tflite_graph.parse(data, "converted model")
    checks = run_checks(graph, mode, approx)
    sites = approximated.gelu_evaluations
    hidden = unreplaced_gelu(graph, sites) if approx.uses_gelu_op else []
    if hidden:
        gelus = graph.op_counts().get("GELU", 0)
        reporter.warn(f"{gelus} GELU ops in the converted model but {sites} GELU sites found "
                      f"({'; '.join(hidden)}): a GELU written inside a custom layer's call() "
                      "or as a formula the converter fused was not found. Harmless with --approx "
                      "lut; for other approximations make it a layer activation or a "
                      "keras.ops.gelu node")
    artifacts.clear_from(ctx.out, "convert")
    artifacts.write_bytes(ctx.out / artifacts.MODEL_TFLITE, data)
    ctx.converted(data, graph)
    inputs, outputs = io_tensors(graph, describe(model))
    record = ctx.keep(ConvertRecord(
        quantize=mode.name, approx=approx.name, batch=batch,
        calibration_samples=batches.count(calib_x) if mode.needs_calibration else 0,
        ops=graph.op_counts(), op_versions=graph.op_versions(),
        min_runtime_version=graph.metadata.get("min_runtime_version"), checks=checks,
        inputs=inputs, outputs=outputs, tflite_bytes=len(data),
        parameters=int(model.count_params())))
    ops = ", ".join(f"{k} x{v}" for k, v in record.ops.items())
    reporter.info(f"converted ({mode.name}, {len(data) / 1024:.0f} KiB): {ops}")
    for check in record.checks:
        if not check.passed:
            reporter.warn(f"graph check {check.name} failed: {check.message}")
    return record
