"""Stage 4, parity: float reference vs replaced float model vs the quantized model on the target
runtime (in its own process), on the evaluation split. Writes parity_samples.npz and parity.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline import artifacts, edge_client, places, targets
from pipeline.approximate import load_replaced
from pipeline.inputs import batch
from pipeline.inputs.data import Dataset, check_model_input
from pipeline.inputs.models import load_model
from pipeline.inputs.signature import describe
from pipeline.parity import gelu_sites, metrics, sensitivity
from pipeline.parity import per_layer as layers
from pipeline.parity.device_compare import compare_raw
from pipeline.parity.thresholds import Thresholds, evaluate
from pipeline.progress import Reporter
from pipeline.rewrites.gelu import Site
from pipeline.tflite import graph as tflite_graph

SCHEMA_VERSION = 1


def _task_block(kind: str | None, y_true: np.ndarray | None, y_float: np.ndarray,
                y_approx: np.ndarray, y_q: np.ndarray) -> dict[str, Any]:
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


def _comparison_inputs(data: Dataset, x: batch.Inputs, n: int) -> batch.Inputs:
    """The eval samples first, then more from the other splits, `n` in all (if there are)."""
    parts = [x] + [a for a in (data.x_train, data.x_calib) if a is not None]
    return batch.take(batch.concat(parts), slice(0, max(n, batch.count(x))))


def _raw_outputs(arrays: dict[str, np.ndarray], n_outputs: int) -> np.ndarray:
    """Every output's raw values side by side, one row per sample."""
    raws = [arrays[f"y_raw{i}"] for i in range(n_outputs)]
    return np.concatenate([r.reshape(len(r), -1) for r in raws], axis=1)


def _run_on_device(tflite_path: Path, data: Dataset, x: batch.Inputs, runtime: str,
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
    n_out = int(about.get("outputs", 1))
    comparison = compare_raw(_raw_outputs(device, n_out), _raw_outputs(host, n_out),
                             about["output_quantization"][0])
    comparison["host"] = {k: host_about[k] for k in ("name", "version", "machine")}
    arrays = {k: v[: batch.count(x)] for k, v in device.items()}
    return arrays, about, comparison


def _diagnostics(out: Path, float_model: Any, data: Dataset, x: batch.Inputs,
                 y_float: list[np.ndarray],
                 runtime: str, approx_rec: dict[str, Any], quantize: str, worst: int,
                 reporter: Reporter) -> dict[str, Any]:
    """Where the error comes from: per-layer table, GELU sites, sensitivity (when asked)."""
    tflite_path = out / artifacts.MODEL_TFLITE
    site_layers = {Site(**s).layer.split("/")[-1] for s in approx_rec["sites"]}
    reporter.info("per-layer parity")
    table = layers.per_layer(float_model, tflite_path, x, runtime, site_layers, reporter)
    scales = {row["layer"]: row["scale"] for row in table["layers"]}
    sites: list[dict[str, Any]] = []
    if approx_rec["sites"]:
        sites, curves = gelu_sites.analyse(out / artifacts.MODEL_APPROX, approx_rec["approx"],
                                           [Site(**s) for s in approx_rec["sites"]],
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


def _samples(x: batch.Inputs, labels: list[np.ndarray] | None, y_float: list[np.ndarray],
             y_approx: list[np.ndarray], y_q: list[np.ndarray],
             arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """parity_samples.npz: x (x_0, x_1, ... for several inputs); per output y_true, y_float,
    y_approx, y_quantized, y_quantized_raw, the first output without a suffix, the others
    with _<index>."""
    found: dict[str, np.ndarray] = ({"x": x} if not isinstance(x, list)
                                    else {f"x_{i}": a for i, a in enumerate(x)})
    for i in range(len(y_float)):
        suffix = "" if i == 0 else f"_{i}"
        if labels is not None and i < len(labels):
            found[f"y_true{suffix}"] = labels[i]
        found.update({f"y_float{suffix}": y_float[i], f"y_approx{suffix}": y_approx[i],
                      f"y_quantized{suffix}": y_q[i],
                      f"y_quantized_raw{suffix}": arrays[f"y_raw{i}"]})
    return found


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

    x = data.x_eval if samples is None else batch.take(data.x_eval, slice(0, samples))
    n = batch.count(x)
    labels = None if data.y_eval is None else [a[:n] for a in batch.as_list(data.y_eval)]
    float_model = load_model(float_path)
    signature = describe(float_model)
    check_model_input(data.path, x, signature)
    names = signature.output_names
    y_float = signature.predict(float_model, x)
    y_approx = signature.predict(load_replaced(approx_path, approx_rec["approx"]), x)
    arrays, about, device_vs_host = _run_on_device(tflite_path, data, x, runtime, on, reporter)
    y_q = [arrays[f"y{i}"].reshape(y.shape) for i, y in enumerate(y_float)]
    quantization = about.get("outputs_quantization", [about["output_quantization"]])
    per_output: dict[str, dict[str, Any]] = {}
    gate: list[dict[str, Any]] = []
    tasks = data.tasks
    for i, name in enumerate(names):
        scale = quantization[i][0] or None
        task_i = _task_block(tasks[i] if i < len(tasks) else None,
                             labels[i] if labels is not None and i < len(labels) else None,
                             y_float[i], y_approx[i], y_q[i])
        per_output[name] = {
            "metrics": metrics.compare(y_float[i], y_q[i], scale),
            "approx_metrics": metrics.compare(y_float[i], y_approx[i], scale),
            "quantization_metrics": metrics.compare(y_approx[i], y_q[i], scale),
            "task": task_i,
            "output_quantization": {"scale": quantization[i][0],
                                    "zero_point": quantization[i][1]},
        }
        gate += evaluate(thresholds, per_output[name]["metrics"], task_i, name)
    reporter.info(f"checking model.tflite against target {target.name!r}")
    compat = target.check(tflite_path, tflite_graph.read(tflite_path))
    checks = convert_rec["checks"] + [{"name": "target_compatible", "passed": compat.compatible,
                                       "message": compat.summary()}]
    choice = out / artifacts.APPROX_CHOICE
    artifacts.clear_from(out, "parity")
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
        "outputs": names,
        "per_output": per_output,
        "threshold_sources": list(thresholds.sources),
        "samples": int(n),
        "data": {"path": str(data.path), "split": data.eval_split,
                 "calibration": data.calib_source, "warnings": list(data.warnings)},
        "fine_tune": approx_rec.get("fine_tune"),
        # The first output's figures at the top level (what one-output reports show).
        **{k: per_output[names[0]][k] for k in ("metrics", "approx_metrics",
                                                "quantization_metrics", "task")},
        "thresholds": gate,
        "checks": checks,
        "ops": convert_rec["ops"],
        "output_quantization": per_output[names[0]]["output_quantization"],
        **diagnostics,
    }
    artifacts.write_npz(out / artifacts.PARITY_SAMPLES, **_samples(x, labels, y_float, y_approx,
                                                                    y_q, arrays))
    artifacts.write_json(out / artifacts.PARITY_JSON, report)
    return report
