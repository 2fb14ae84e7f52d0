"""What int16 activations would buy an all-integer MiniLM: the `rpi --integer-only` build's
rewritten model (stream-scale, attention-heads and the other integer rewrites, from
benchmarks/minilm.py's `rpi_integer_only` build) quantized with ai-edge-quantizer's
static_wi8_ai16 recipe (int16 activations from min/max over 64 calibration sentences, int8
weights), then run on LiteRT over the 600 evaluation sentences against that build's float
outputs. Not a gelu-edge mode yet (`--quantize int16x8` refuses integer inputs): a measurement
for issue 24's next step.

Run after `benchmarks/minilm.py --only rpi_integer_only`:
    .venv/bin/python benchmarks/minilm_int16.py
Results: benchmarks/results/minilm_int16.json
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("GELU_EDGE_BENCH", REPO / "build" / "bench-minilm"))
RESULTS = REPO / "benchmarks" / "results" / "minilm_int16.json"
CALIBRATION = 64  # sentences the ranges come from


def _ranges(data: bytes, calib: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    """Min and max of every float activation over the calibration sentences, by tensor name."""
    from pipeline.tflite import graph as tflite_graph
    from pipeline.tflite import tensors

    graph = tflite_graph.parse(data, "float model")
    found = [i for i, t in enumerate(graph.tensors)
             if t.dtype == "FLOAT32" and not graph.is_constant(i)]
    lo = {i: np.inf for i in found}
    hi = {i: -np.inf for i in found}
    for interpreter in tensors.on_samples(data, calib, CALIBRATION):
        for i in found:
            x = interpreter.get_tensor(i)
            lo[i], hi[i] = min(lo[i], float(x.min())), max(hi[i], float(x.max()))
    return {graph.tensors[i].name: (lo[i], hi[i]) for i in found if np.isfinite(lo[i])}


def _run(data: bytes, x: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Outputs (dequantized) on every sentence, and the mean invoke time in ms, one thread."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    inputs, output = interpreter.get_input_details(), interpreter.get_output_details()[0]
    scale, zero = output["quantization"]
    found, start = [], time.perf_counter()
    for i in range(len(x[0])):
        for d, a in zip(inputs, x):
            interpreter.set_tensor(d["index"], a[i:i + 1].astype(d["dtype"]))
        interpreter.invoke()
        y = interpreter.get_tensor(output["index"]).astype(np.float64)
        found.append(((y - zero) * scale if scale else y).reshape(-1))
    return np.array(found), (time.perf_counter() - start) / len(x[0]) * 1000


def main() -> None:
    from ai_edge_quantizer import quantizer, recipe

    from pipeline import rewrites
    from pipeline.progress import Quiet
    from pipeline.records import ApproximateRecord
    from pipeline.tflite import graph as tflite_graph
    from pipeline.tflite.converter import convert_model

    build, model_dir = WORK / "rpi_integer_only", WORK / "model"
    record = ApproximateRecord.load(build)
    model = rewrites.load(build / "model_approx.keras", record)
    calib_file = np.load(model_dir / "calibration.npz")
    eval_file = np.load(model_dir / "evaluation.npz")
    names = sorted(k[2:] for k in calib_file.files if k.startswith("x_"))
    calib = [calib_file[f"x_{n}"][:CALIBRATION] for n in names]
    float_model = convert_model(model, "none", calib, 1, Quiet())
    q = quantizer.Quantizer(bytearray(float_model))
    q.load_quantization_recipe(recipe.static_wi8_ai16())
    ranges = _ranges(float_model, calib)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        data = bytes(q.quantize({n: {"min": np.array([lo]), "max": np.array([hi])}
                                 for n, (lo, hi) in ranges.items()}).quantized_model)
    graph = tflite_graph.parse(data, "int16 model")
    float_ops = sorted({op.name for op in graph.ops if any(
        graph.tensors[i].dtype == "FLOAT32" for i in (*op.inputs, *op.outputs) if i >= 0)})
    x = [eval_file[f"x_{n}"] for n in names]
    got, ms = _run(data, x)
    _, float_ms = _run(float_model, [a[:50] for a in x])
    reference = np.load(build / "parity_samples.npz")["y_float"].reshape(len(got), -1)
    cosine = (got * reference).sum(1) / (np.linalg.norm(got, axis=1)
                                         * np.linalg.norm(reference, axis=1))
    sim_float, sim_q = reference @ reference.T, got @ got.T
    np.fill_diagonal(sim_float, -np.inf)
    np.fill_diagonal(sim_q, -np.inf)
    results = {"recipe": "static_wi8_ai16", "calibration_sentences": CALIBRATION,
               "sentences": len(got), "float_ops": float_ops,
               "mean_cosine": round(float(cosine.mean()), 4),
               "min_cosine": round(float(cosine.min()), 4),
               "neighbour_agreement": round(float((sim_float.argmax(1)
                                                   == sim_q.argmax(1)).mean()), 4),
               "invoke_ms": round(ms, 2), "float_invoke_ms": round(float_ms, 2),
               "tflite_mib": round(len(data) / 2**20, 1)}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
