"""Stage 3, convert: TFLite conversion with post-training quantization, then graph checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import approximations, artifacts
from pipeline.approximate import load_replaced
from pipeline.errors import CheckFailed, UserError
from pipeline.inputs import batch as batches
from pipeline.inputs.models import input_names, input_shapes
from pipeline.progress import Reporter
from pipeline.tfenv import captured_native_output, tensorflow
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import quantize_modes
from pipeline.tflite.checks import CheckResult, run_checks

DEFAULT_BATCH = 1


@dataclass(frozen=True)
class ConvertResult:
    """What the convert stage did, saved as convert.json."""

    quantize: str
    approx: str
    batch: int
    calibration_samples: int
    ops: dict[str, int]
    op_versions: dict[str, int]
    min_runtime_version: str | None
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        """True when every graph check passed."""
        return all(c.passed for c in self.checks)


def concrete_function(model: Any, batch: int) -> Any:
    """The model as a frozen TF concrete function with a fixed batch (what the converter takes)."""
    tf = tensorflow()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    specs = []
    for name, shape in zip(input_names(model), input_shapes(model)):
        if any(d is None for d in shape[1:]):
            raise UserError(
                f"the model input {name!r} has dynamic dimensions {shape[1:]} beyond the batch "
                "axis; give the model a fixed input shape"
            )
        specs.append(tf.TensorSpec([batch, *shape[1:]], tf.float32, name=name))
    if len(specs) == 1:
        fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs[0])
    else:  # TFLite keeps this argument order (and the names) for the model's inputs
        fn = tf.function(lambda *xs: model(list(xs), training=False)).get_concrete_function(
            *specs)
    # Freezing keeps variables out of the TFLite graph (no READ_VARIABLE during calibration).
    return convert_variables_to_constants_v2(fn)


def convert_model(model: Any, mode_name: str, calib_x: batches.Inputs, batch: int,
                  reporter: Reporter) -> bytes:
    """Convert a Keras model to TFLite bytes with the given quantization mode."""
    tf = tensorflow()
    mode = quantize_modes.get(mode_name)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function(model, batch)])
    arrays = batches.as_list(calib_x)
    n = (len(arrays[0]) // batch) * batch
    if mode.needs_calibration and n == 0:
        raise UserError(f"calibration needs at least {batch} samples; x_calib has "
                        f"{len(arrays[0])}")

    def representative() -> Any:
        with reporter.task("calibrating", n // batch) as advance:
            for i in range(0, n, batch):
                yield [a[i:i + batch].astype(np.float32) for a in arrays]
                advance(1)

    mode.configure(converter, tf, representative)
    with captured_native_output() as log:
        try:
            return converter.convert()
        except Exception as exc:
            error = exc
    detail = next((ln for ln in reversed(log) if "error" in ln.lower()), "")
    first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    raise CheckFailed(f"TFLite conversion with --quantize {mode_name} failed: {first} {detail}".strip())


def run(out: Path, model_path: Path, mode_name: str, approx_name: str, calib_x: np.ndarray,
        reporter: Reporter, batch: int = DEFAULT_BATCH) -> ConvertResult:
    """Convert model_approx.keras, write model.tflite and convert.json, and check the graph."""
    mode = quantize_modes.get(mode_name)
    approx = approximations.get(approx_name)
    model = load_replaced(model_path, approx.name)
    data = convert_model(model, mode_name, calib_x, batch, reporter)
    graph = tflite_graph.parse(data, "converted model")
    checks = run_checks(graph, mode, approx)
    artifacts.clear_from(out, "convert")
    artifacts.write_bytes(out / artifacts.MODEL_TFLITE, data)
    result = ConvertResult(
        quantize=mode.name, approx=approx.name, batch=batch,
        calibration_samples=batches.count(calib_x) if mode.needs_calibration else 0,
        ops=graph.op_counts(), op_versions=graph.op_versions(),
        min_runtime_version=graph.metadata.get("min_runtime_version"), checks=checks,
    )
    artifacts.write_json(out / artifacts.CONVERT_RECORD,
                         {**asdict(result), "passed": result.passed})
    ops = ", ".join(f"{k} x{v}" for k, v in result.ops.items())
    reporter.info(f"converted ({mode.name}): {ops}")
    return result
