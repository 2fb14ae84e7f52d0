"""Stage 4, parity: float reference vs replaced float model vs the quantized model on the target
runtime (in its own process), on the evaluation split. Writes parity_samples.npz and parity.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline import (
    artifacts,
    edge_client,
    gelu_sites,
    layers,
    metrics,
    places,
    sensitivity,
    targets,
    tflite_graph,
)
from pipeline.approximate import load_replaced
from pipeline.data import Dataset, check_model_input
from pipeline.device_compare import compare_raw
from pipeline.models import input_shape, load_model, output_names
from pipeline.progress import Reporter
from pipeline.thresholds import Thresholds, evaluate

SCHEMA_VERSION = 1
PREDICT_BATCH = 256


def _task_block(data: Dataset, y_true: np.ndarray | None, y_float: np.ndarray, y_approx: np.ndarray,
                y_q: np.ndarray) -> dict[str, Any]:
    kind = data.task
    if kind is None or y_true is None:
        return {"kind": None, "metric": None, "float": None, "approx": None, "quantized": None,
                "note": "no labels (--data not given): the task metric is absent; parity "
                        "compares the models' outputs on the calibration samples"}
    block: dict[str, Any] = {
        "kind": kind,
        "metric": "accuracy" if kind == "classification" else "mae",
        "float": metrics.task_metric(kind, y_true, y_float),
        "approx": metrics.task_metric(kind, y_true, y_approx),
        "quantized": metrics.task_metric(kind, y_true, y_q),
    }
    if kind == "classification":
        block["top1_agreement"] = metrics.top1_agreement(y_float, y_q)
    return block


def _comparison_inputs(data: Dataset, x: np.ndarray, n: int) -> np.ndarray:
    """The eval samples first, then more from the other splits, `n` in all (if there are)."""
    parts = [x] + [a for a in (data.x_train, data.x_calib) if a is not None]
    pool = np.concatenate(parts)
    return pool[: max(n, len(x))]


def _run_on_device(tflite_path: Path, data: Dataset, x: np.ndarray, runtime: str,
                   on: places.OnOptions, reporter: Reporter
                   ) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any] | None]:
    """Run where `on` says. Off this machine, also run here on the same inputs (at least
    on.compare_samples) and compare the raw outputs."""
    place = on.place()
    if on.on == places.LOCAL:
        arrays, about = edge_client.run(tflite_path, x, runtime, reporter, on.run_timeout,
                                        delegate=on.delegate)
        return arrays, about, None
    x_all = _comparison_inputs(data, x, on.compare_samples)
    device, about = edge_client.run(tflite_path, x_all, runtime, reporter, on.run_timeout, place,
                                    on.delegate)
    host, host_about = edge_client.run(tflite_path, x_all, runtime, reporter, on.run_timeout)
    comparison = compare_raw(device["y_raw"], host["y_raw"], about["output_quantization"][0])
    comparison["host"] = {k: host_about[k] for k in ("name", "version", "machine")}
    arrays = {k: v[: len(x)] for k, v in device.items()}
    return arrays, about, comparison


def _diagnostics(out: Path, float_model: Any, data: Dataset, x: np.ndarray, y_float: np.ndarray,
                 runtime: str, approx_rec: dict[str, Any], quantize: str, worst: int,
                 reporter: Reporter) -> dict[str, Any]:
    """Where the error comes from: per-layer table, GELU sites, sensitivity (when asked)."""
    tflite_path = out / artifacts.MODEL_TFLITE
    site_layers = {s["path"].rsplit(".", 1)[0].split("/")[-1] for s in approx_rec["sites"]}
    reporter.info("per-layer parity")
    table = layers.per_layer(float_model, tflite_path, x, runtime, site_layers, reporter)
    scales = {row["layer"]: row["scale"] for row in table["layers"]}
    sites: list[dict[str, Any]] = []
    if approx_rec["sites"]:
        sites, curves = gelu_sites.analyse(out / artifacts.MODEL_FLOAT, approx_rec["approx"],
                                           data.x_calib, runtime, scales, reporter)
        artifacts.write_npz(out / artifacts.GELU_CURVES, **curves)
    rows: list[dict[str, Any]] = []
    if worst:
        ok_rows = [row for row in table["layers"] if row.get("match") == "ok"]
        names = [(row["layer"], row["tensor_name"]) for row in ok_rows[:worst]]
        rows = sensitivity.run(out / artifacts.MODEL_APPROX, approx_rec["approx"], tflite_path,
                               quantize, names, x,
                               y_float, data.x_calib, runtime, reporter)
    return {"layers": table, "gelu_sites": sites, "sensitivity": rows}


def run(out: Path, data: Dataset, target_name: str, runtime: str | None, thresholds: Thresholds,
        reporter: Reporter, samples: int | None = None,
        on: places.OnOptions = places.OnOptions(), sensitivity_layers: int = 0) -> dict[str, Any]:
    """Compare the three models on the eval split; write parity_samples.npz and parity.json."""
    target = targets.get(target_name)
    on.place()  # a malformed --on fails before any work
    runtime = runtime or target.runtime
    float_path = artifacts.require(out, artifacts.MODEL_FLOAT, "train")
    approx_path = artifacts.require(out, artifacts.MODEL_APPROX, "approximate")
    tflite_path = artifacts.require(out, artifacts.MODEL_TFLITE, "convert")
    approx_rec = artifacts.read_json(artifacts.require(out, artifacts.APPROX_RECORD, "approximate"))
    convert_rec = artifacts.read_json(artifacts.require(out, artifacts.CONVERT_RECORD, "convert"))

    x = data.x_eval if samples is None else data.x_eval[:samples]
    y_true = None if data.y_eval is None else data.y_eval[: len(x)]
    float_model = load_model(float_path)
    check_model_input(data.path, x, input_shape(float_model))
    y_float = float_model.predict(x, batch_size=PREDICT_BATCH, verbose=0)
    y_approx = load_replaced(approx_path, approx_rec["approx"]).predict(
        x, batch_size=PREDICT_BATCH, verbose=0)
    arrays, about, device_vs_host = _run_on_device(tflite_path, data, x, runtime, on, reporter)
    y_q = arrays["y"].reshape(y_float.shape)
    scale = about["output_quantization"][0] or None

    task = _task_block(data, y_true, y_float, y_approx, y_q)
    quant_metrics = metrics.compare(y_float, y_q, scale)
    output = output_names(float_model)[0]
    gate = evaluate(thresholds, quant_metrics, task, output)
    reporter.info(f"checking model.tflite against target {target.name!r}")
    compat = target.check(tflite_path, tflite_graph.read(tflite_path))
    checks = convert_rec["checks"] + [{"name": "target_compatible", "passed": compat.compatible,
                                       "message": compat.summary()}]
    choice = out / artifacts.APPROX_CHOICE
    diagnostics = _diagnostics(out, float_model, data, x, y_float, runtime, approx_rec,
                               convert_rec["quantize"], sensitivity_layers, reporter)
    report = {
        "schema_version": SCHEMA_VERSION,
        "passed": all(r["passed"] for r in gate) and all(c["passed"] for c in checks),
        "quantize": convert_rec["quantize"],
        "target": target.name,
        "approx": {"name": approx_rec["approx"], "replaced": approx_rec["replaced"],
                   "sites": approx_rec["sites"],
                   "auto": artifacts.read_json(choice) if choice.is_file() else None},
        "compat": compat.to_json(),
        "runtime": {"name": about["name"], "version": about["version"],
                    "machine": about["machine"], "where": about["where"], "on": on.on,
                    "cpu": about.get("cpu"), "python": about["python"],
                    "delegate": on.delegate},
        "device_vs_host": device_vs_host,
        "outputs": [output],
        "threshold_sources": list(thresholds.sources),
        "samples": int(len(x)),
        "data": {"path": str(data.path), "split": data.eval_split,
                 "calibration": data.calib_source, "warnings": list(data.warnings)},
        "fine_tune": approx_rec.get("fine_tune"),
        "metrics": quant_metrics,
        "approx_metrics": metrics.compare(y_float, y_approx, scale),
        "quantization_metrics": metrics.compare(y_approx, y_q, scale),
        "task": task,
        "thresholds": gate,
        "checks": checks,
        "ops": convert_rec["ops"],
        "output_quantization": {"scale": about["output_quantization"][0],
                                "zero_point": about["output_quantization"][1]},
        **diagnostics,
    }
    labels = {} if y_true is None else {"y_true": y_true}
    artifacts.write_npz(out / artifacts.PARITY_SAMPLES, x=x, **labels, y_float=y_float,
                        y_approx=y_approx, y_quantized=y_q, y_quantized_raw=arrays["y_raw"])
    artifacts.write_json(out / artifacts.PARITY_JSON, report)
    return report
