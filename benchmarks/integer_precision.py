"""Where all-integer MiniLM loses its meaning, and what int16 in a few places buys (issue 24).

From the `rpi_integer_only` build of benchmarks/minilm.py (run that first), this takes the
replaced model (model_approx.keras with its rewrites: stream-scale, attention-heads, ...) and:

1. **Ablation.** The same calibrated model quantized all-int8 by TensorFlow's MLIR quantizer
   (min/max ranges), with one group of ops at a time kept in float: which group's int8
   costs the most (on the first ABLATION_SAMPLES evaluation sentences).
2. **Precision recipes.** The float TFLite model quantized by ai-edge-quantizer with each
   activation's min/max over the first 128 calibration sentences (converter.activation_ranges):
   all int8; int16 for the layer norms and the residual adds with every FULLY_CONNECTED int8;
   the same with the FULLY_CONNECTED ops fed by a layer norm in int16 too; int16 everywhere.
   Every op is integer in each. Mean/min cosine and nearest-neighbour agreement against the
   float TFLite model on the 600 evaluation sentences, and latency (median of LATENCY_RUNS
   invokes, one thread) on this machine's LiteRT.

Run: .venv/bin/python benchmarks/integer_precision.py [--skip-ablation]
Results: benchmarks/results/integer_precision.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
WORK = Path(os.environ.get("GELU_EDGE_BENCH", REPO / "build" / "bench-minilm"))
RESULTS = REPO / "benchmarks" / "results" / "integer_precision.json"
ABLATION_SAMPLES = 200
LATENCY_RUNS = 20
CALIBRATION_SAMPLES = 480  # what the build calibrated on (--calibration-method auto keeps 120 back)
MATCH_ALL = ".+"  # a second scope that matches every op: the recipe manager takes the last match

# Float groups for the ablation: (name, test on an op's output tensor name and kind).
ABLATION = {
    "nothing (all int8)": lambda n, k: False,
    "layer norms": lambda n, k: "layer_norm" in n,
    "residual adds": lambda n, k: k == "ADD" and "layer_norm" not in n
    and "attention_layer/" not in n,
    "attention core (softmax, activation matmuls)": lambda n, k: k in ("BATCH_MATMUL", "SOFTMAX"),
    "query/key/value": lambda n, k: any(f"/{p}" in n for p in ("query", "key", "value")),
    "attention output": lambda n, k: "attention_output" in n,
    "feed-forward in (with GELU)": lambda n, k: "feedforward_intermediate" in n,
    "feed-forward out": lambda n, k: "feedforward_output" in n,
    "embeddings": lambda n, k: "embedding" in n and "layer_norm" not in n,
}


def _entry(op: str, regex: str, bits: int) -> dict[str, Any]:
    from ai_edge_quantizer import recipe

    base = recipe.static_wi8_ai16() if bits == 16 else recipe.static_wi8_ai8()
    entry = copy.deepcopy(base[0])
    entry.update(operation=op, regex=regex)
    return entry


RECIPES = {
    "int8 everywhere": lambda: [_entry("*", ".*", 8)],
    "int16 layer norms and residual adds, int8 FULLY_CONNECTED": lambda: [
        _entry("*", ".*", 8), _entry("*", "layer_norm", 16), _entry("ADD", ".*", 16),
        _entry("FULLY_CONNECTED", MATCH_ALL, 8)],
    "int16 layer norms, residual adds and the FULLY_CONNECTED they feed": lambda: [
        _entry("*", ".*", 8), _entry("*", "layer_norm", 16), _entry("ADD", ".*", 16)],
    "int16 everywhere (--quantize int16x8)": lambda: [_entry("*", ".*", 16)],
}


def _run(data: bytes, xs: list[np.ndarray], n: int) -> tuple[np.ndarray, float]:
    """Outputs (dequantized) on the first n samples, and the median invoke time in ms."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data, num_threads=1)
    it.allocate_tensors()
    ins, out = it.get_input_details(), it.get_output_details()[0]
    ys = []
    for i in range(n):
        for d, a in zip(ins, xs):
            it.set_tensor(d["index"], a[i:i + 1].astype(d["dtype"], copy=False))
        it.invoke()
        y = it.get_tensor(out["index"])
        if out["quantization"][0]:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        ys.append(y[0])
    times = []
    for _ in range(LATENCY_RUNS):
        start = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - start)
    return np.array(ys), float(np.median(times) * 1000)


def _scores(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    from pipeline.gate import metrics

    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)  # noqa: E731
    per = np.sum(unit(ref) * unit(got), axis=1)
    return {"mean_cosine": round(float(per.mean()), 4), "min_cosine": round(float(per.min()), 4),
            "neighbour_agreement": round(metrics.neighbour_agreement(ref, got, None), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", type=Path, default=WORK / "rpi_integer_only")
    parser.add_argument("--skip-ablation", action="store_true")
    args = parser.parse_args()
    from pipeline import rewrites
    from pipeline.inputs.signature import describe
    from pipeline.progress import Quiet
    from pipeline.records import ApproximateRecord
    from pipeline.tflite import calibrate, hybrid
    from pipeline.tflite import graph as tflite_graph
    from pipeline.tflite.converter import activation_ranges, convert_model

    if not (args.build / "model_approx.keras").is_file():
        sys.exit(f"{args.build}: no model_approx.keras; run benchmarks/minilm.py --only "
                 "rpi_integer_only first")
    record = ApproximateRecord.model_validate_json(
        (args.build / "approximate.json").read_text(encoding="utf-8"))
    model = rewrites.load(args.build / "model_approx.keras", record)
    names = describe(model).input_names
    c, e = np.load(WORK / "model" / "calibration.npz"), np.load(WORK / "model" / "evaluation.npz")
    calib = [c[f"x_{n}"] for n in names]
    evaluation = [e[f"x_{n}"] for n in names]
    n = len(evaluation[0])
    float_model = convert_model(model, "none", calib, 1, Quiet())
    ref, float_ms = _run(float_model, evaluation, n)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "build": str(args.build.relative_to(REPO) if args.build.is_relative_to(REPO)
                     else args.build),
        "rewrites": record.rewrites,
        "evaluation_sentences": n, "float_ms": round(float_ms, 2), "recipes": {}}
    ranges = activation_ranges(float_model, calib, Quiet())
    for name, make in RECIPES.items():
        data = hybrid.quantize(float_model, make(), ranges)
        got, ms = _run(data, evaluation, n)
        g = tflite_graph.parse(data, name)
        kinds = Counter(f"{op.name} {g.tensors[op.outputs[0]].dtype}" for op in g.ops)
        results["recipes"][name] = {
            **_scores(ref, got), "ms": round(ms, 2), "latency_ratio": round(ms / float_ms, 2),
            "float_ops": sum(v for k, v in kinds.items() if k.endswith("FLOAT32")
                             and not k.startswith("DEQUANTIZE")),
            "int16_ops": sum(v for k, v in kinds.items() if k.endswith("INT16")
                             and not k.startswith("QUANTIZE")),
            "fully_connected_int16": kinds.get("FULLY_CONNECTED INT16", 0)}
        print(name, results["recipes"][name], flush=True)
    if not args.skip_ablation:
        calibrated = calibrate.Calibrated.read(
            convert_model(model, "int8", [a[:CALIBRATION_SAMPLES] for a in calib], 1, Quiet(),
                          calibrate_only=True))
        g = tflite_graph.parse(calibrated.data, "calibrated model")
        ops = [(g.tensors[op.outputs[0]].name, op.name) for op in g.ops]
        m = ABLATION_SAMPLES
        results["ablation"] = {"samples": m, "groups": {}}
        for name, test in ABLATION.items():
            keep = [t for t, k in ops if test(t, k)]
            data = calibrate.quantize(calibrated, "int8", None, keep or None)
            got, _ = _run(data, evaluation, m)
            results["ablation"]["groups"][name] = {"float_ops": len(keep),
                                                   **_scores(ref[:m], got)}
            print("float:", name, results["ablation"]["groups"][name], flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
