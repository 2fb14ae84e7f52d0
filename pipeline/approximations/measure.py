"""Measure GELU approximations: float error, int8 error over all 256 input codes, ops, latency.

Every figure is measured, none is stored in code: single-op models are converted with
full-integer int8 PTQ and run on the real runtimes in their own processes (`python -m edge`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge import runtimes
from pipeline import approximations, artifacts, targets
from pipeline.approximations import Approximation, gelu_exact
from pipeline.device import edge_client
from pipeline.errors import UserError
from pipeline.progress import Quiet, Reporter
from pipeline.tempdirs import temporary_directory
from pipeline.tfenv import captured_native_output, tensorflow
from pipeline.tflite import graph as tflite_graph

FLOAT_RANGE = (-4.0, 4.0)
INT8_RANGE = (-8.0, 8.0)
LATENCY_SHAPE = (1, 128, 3072)
FLOAT_GRID_POINTS = 8001
CODES = 256
CALIBRATION_BATCHES = 20
CALIBRATION_SEED = 0
# The converted model's input range counts as narrowed when it misses the requested range by
# more than one input step (the int8 grid cannot hit both ends exactly).
RANGE_SLACK_STEPS = 1.0


@dataclass
class Measurement:
    """What `gelu-edge approximations` reports for one variant."""

    name: str
    summary: str
    float_rms: float
    float_max: float
    int8_max_lsb: float | None = None
    # The top input code lies just above the calibrated maximum, so every variant's output
    # saturates there (the lookup table's too): without it, variants compare on their own error.
    int8_max_lsb_without_top_code: float | None = None
    int8_mean_lsb: float | None = None
    requested_range: tuple[float, float] = INT8_RANGE
    covered_range: tuple[float, float] | None = None
    narrowed: bool | None = None
    ops: dict[str, int] = field(default_factory=dict)
    declared_ops: list[str] = field(default_factory=list)
    accepted_by: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_vs_lut: dict[str, float] = field(default_factory=dict)


def float_error(approx: Approximation, lo: float, hi: float) -> tuple[float, float]:
    """(RMS, max) error of the float reference against exact GELU on a dense grid of [lo, hi]."""
    x = np.linspace(lo, hi, FLOAT_GRID_POINTS)
    err = approx.reference(x) - gelu_exact(x)
    return float(np.sqrt(np.mean(err**2))), float(np.max(np.abs(err)))


def single_op_model(approx: Approximation, shape: tuple[int, ...], lo: float, hi: float) -> bytes:
    """Full-integer int8 TFLite model of the approximation alone, calibrated on [lo, hi].

    The first calibration batch holds both ends of the range, so the input really covers it
    unless the graph itself narrows it (the MINIMUM/MAXIMUM pitfall).
    """
    tf = tensorflow()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: approx.keras_fn(x)).get_concrete_function(
        tf.TensorSpec(shape, tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    rng = np.random.default_rng(CALIBRATION_SEED)
    size = int(np.prod(shape))

    def representative() -> Any:
        grid = np.linspace(lo, hi, size, dtype=np.float32).reshape(shape)
        yield [grid]
        for _ in range(CALIBRATION_BATCHES - 1):
            yield [rng.uniform(lo, hi, shape).astype(np.float32)]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with captured_native_output():
        return conv.convert()


def int8_error(approx: Approximation, lo: float, hi: float, runtime: str,
               reporter: Reporter, model: bytes | None = None) -> dict[str, Any]:
    """Max and mean error in output LSB over all 256 int8 input codes, against exact GELU of
    the dequantized input, on `runtime`; plus the input range the model really covers."""
    model = model or single_op_model(approx, (1, CODES), lo, hi)
    graph = tflite_graph.parse(model, f"{approx.name} single-op model")
    inp = graph.tensors[graph.inputs[0]]
    codes = np.arange(-128, 128, dtype=np.float64)
    x = ((codes - inp.zero_point) * inp.scale).astype(np.float32)[None, :]
    with temporary_directory("approx") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(model)
        arrays, about = edge_client.run(path, x, runtime, reporter)
    out_scale = about["output_quantization"][0]
    err = np.abs(arrays["y"].astype(np.float64).ravel() - gelu_exact(x.astype(np.float64)).ravel())
    covered = (float(x.min()), float(x.max()))
    slack = RANGE_SLACK_STEPS * inp.scale
    return {
        "max_lsb": float(err.max() / out_scale), "mean_lsb": float(err.mean() / out_scale),
        "max_lsb_without_top_code": float(err[:-1].max() / out_scale),
        "covered_range": covered,
        "narrowed": bool(covered[0] > lo + slack or covered[1] < hi - slack),
        "ops": graph.op_counts(), "output_scale": float(out_scale),
        "x": x.ravel().astype(np.float64), "y": arrays["y"].ravel().astype(np.float64),
    }


def float_single_op_model(approx: Approximation, shape: tuple[int, ...]) -> bytes:
    """Float TFLite model of the approximation alone: what a `matmuls` build runs, where GELU
    is one of the float ops."""
    tf = tensorflow()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: approx.keras_fn(x)).get_concrete_function(
        tf.TensorSpec(shape, tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    with captured_native_output():
        return conv.convert()


def float_runtime_error(approx: Approximation, lo: float, hi: float, runtime: str,
                        model: bytes | None = None) -> tuple[float, float]:
    """(max, mean) absolute error against exact GELU of the float single-op model on `runtime`,
    over FLOAT_GRID_POINTS inputs spanning [lo, hi]."""
    model = model or float_single_op_model(approx, (1, FLOAT_GRID_POINTS))
    x = np.linspace(lo, hi, FLOAT_GRID_POINTS, dtype=np.float32)[None, :]
    with temporary_directory("approx") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(model)
        arrays, _ = edge_client.run(path, x, runtime, Quiet())
    err = np.abs(arrays["y"].astype(np.float64).ravel() - gelu_exact(x.astype(np.float64)).ravel())
    return float(err.max()), float(err.mean())


def latency(model: bytes, runtime: str, repeats: int = 20, stat: str = "median_ms") -> float:
    """ms of one invoke on `runtime`, one thread, in a separate process: the median of
    `repeats` invokes, or with stat="min_ms" the fastest of them."""
    with temporary_directory("bench") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(model)
        return float(edge_client.bench(path, runtime, repeats)[stat])


def accepting_targets(model: bytes, source: str) -> list[str]:
    """The registered targets whose real check accepts this model. A target whose tool is not
    installed here (Vela) is left out."""
    graph = tflite_graph.parse(model, source)
    accepted = []
    with temporary_directory("check") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(model)
        for target in targets.TARGETS.values():
            try:
                if target.check(path, graph).compatible:
                    accepted.append(target.name)
            except UserError:
                continue
    return accepted


def installed_runtimes() -> list[str]:
    """Edge runtimes importable here (checked in a separate process)."""
    found = []
    for name in runtimes.RUNTIMES:
        try:
            edge_client.runtime_info(name)
            found.append(name)
        except UserError:
            continue
    return found


def measure_all(names: list[str], float_range: tuple[float, float], int8_range: tuple[float, float],
                shape: tuple[int, ...] | None, runtime: str, reporter: Reporter,
                export: Path | None = None) -> list[Measurement]:
    """Measure each named variant; latency on every installed runtime when `shape` is given."""
    results = []
    runtimes = installed_runtimes() if shape else []
    with reporter.task("measuring approximations", len(names)) as advance:
        for name in names:
            approx = approximations.get(name)
            rms, mx = float_error(approx, *float_range)
            model = single_op_model(approx, (1, CODES), *int8_range)
            q = int8_error(approx, *int8_range, runtime, Quiet(), model)
            m = Measurement(
                name=name, summary=approx.summary, float_rms=rms, float_max=mx,
                int8_max_lsb=q["max_lsb"], int8_mean_lsb=q["mean_lsb"],
                int8_max_lsb_without_top_code=q["max_lsb_without_top_code"],
                requested_range=int8_range, covered_range=q["covered_range"],
                narrowed=q["narrowed"], ops=q["ops"], declared_ops=sorted(approx.int8_ops),
                accepted_by=accepting_targets(model, f"{name} single-op model"),
            )
            if export is not None:
                artifacts.write_bytes(export / f"gelu_{name.replace(':', '_')}_int8.tflite", model)
            if shape:
                big = single_op_model(approx, shape, *int8_range)
                for rt in runtimes:
                    m.latency_ms[rt] = latency(big, rt)
            results.append(m)
            advance(1)
    lut = next((r for r in results if r.name == "lut"), None)
    if lut is not None:
        for r in results:
            r.latency_vs_lut = {rt: r.latency_ms[rt] / lut.latency_ms[rt]
                                for rt in r.latency_ms if lut.latency_ms.get(rt)}
    return results


def to_json(results: list[Measurement]) -> list[dict[str, Any]]:
    """Measurements as plain data."""
    return [asdict(r) for r in results]
