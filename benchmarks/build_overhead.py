"""How long `gelu-edge build` takes, and its overhead over a bare script that trains, converts
and runs the evaluation split once on tflite-runtime in its own process.

Run: .venv/bin/python benchmarks/build_overhead.py [--repeats N]
Both are timed as fresh processes (the user's experience, TensorFlow import included); the
median of N runs is printed and written to benchmarks/results/build_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
import calibration_data
d = np.load(calibration_data.folder() / "demo_regression.npz")
keras.utils.set_random_seed(0)
inp = keras.Input((10,))
m = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Dense(64, activation="gelu")(inp)))
m.compile(keras.optimizers.Adam(3e-3), "mse")
m.fit(d["x_train"], d["y_train"], epochs=40, batch_size=64, verbose=0)
fn = tf.function(lambda x: m(x)).get_concrete_function(tf.TensorSpec([1, 10], tf.float32))
c = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
c.optimizations = [tf.lite.Optimize.DEFAULT]
c.representative_dataset = lambda: ([d["x_calib"][i:i + 1]] for i in range(len(d["x_calib"])))
c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
c.inference_input_type = c.inference_output_type = tf.int8
open(os.path.join(os.environ["OUT"], "bare.tflite"), "wb").write(c.convert())
"""
BARE_RUN = """
import os, numpy as np
import calibration_data
from tflite_runtime.interpreter import Interpreter
d = np.load(calibration_data.folder() / "demo_regression.npz")
it = Interpreter(model_path=os.path.join(os.environ["OUT"], "bare.tflite"))
it.allocate_tensors()
inp, out = it.get_input_details()[0], it.get_output_details()[0]
scale, zero = inp["quantization"]
for row in d["x_eval"]:
    it.set_tensor(inp["index"], np.round(row[None] / scale + zero).clip(-128, 127).astype(np.int8))
    it.invoke()
    it.get_tensor(out["index"])
"""


def _time(cmd: list[str], env_out: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True,
                   env={**__import__("os").environ, "OUT": env_out})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    build, bare = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            build.append(_time([sys.executable, "-m", "pipeline", "build", "--quantize", "int8",
                                "--out", f"{tmp}/build"], tmp))
            bare.append(_time([sys.executable, "-c", BARE], tmp)
                        + _time([sys.executable, "-c", BARE_RUN], tmp))
    result = {
        "machine": platform.machine(), "cpus": __import__("os").cpu_count(),
        "repeats": args.repeats,
        "build_s_median": statistics.median(build), "bare_s_median": statistics.median(bare),
        "build_s": build, "bare_s": bare,
    }
    result["overhead_s"] = result["build_s_median"] - result["bare_s_median"]
    result["build_over_bare"] = round(result["build_s_median"] / result["bare_s_median"], 2)
    out = REPO / "benchmarks" / "results" / "build_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"gelu-edge build: {result['build_s_median']:.1f} s (median of {args.repeats})")
    print(f"bare train + convert + runtime pass: {result['bare_s_median']:.1f} s")
    print(f"build / bare: {result['build_over_bare']:.2f}")


if __name__ == "__main__":
    main()
