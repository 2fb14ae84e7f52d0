"""How long `gelu-edge build` takes, where the time goes, and its overhead over a bare script
that trains, converts and runs the evaluation split once on tflite-runtime in its own process.

Run: python benchmarks/build_overhead.py [--repeats N]   (Makefile: `make bench`)

Everything is timed as fresh processes (the user's experience, TensorFlow import included), N
times each; medians and every run go to benchmarks/results/build_overhead.json:
- build: `python -m pipeline build --quantize int8` into a temporary folder, its wall time, and
  per stage from the moment each `[i/5]` line reaches stderr (report and process exit included,
  which no record times), plus the build's own `timings` (parity.json) and train.json seconds.
- build_inside: the same build run in a probe that times its main parts from outside the
  pipeline's code: the TensorFlow import, Keras fit and predict, matplotlib's savefig.
- bare: the seed's script, timing its TensorFlow import, fit and convert, then the runtime pass.
`--approx auto` measures the approximations once per machine (15-25 s) and caches the result in
~/.cache/gelu-edge; one build is run first, untimed, so every timed build finds the cache warm.
The machine may be shared: the spread (min, max) of each figure is recorded beside its median,
and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULT = REPO / "benchmarks" / "results" / "build_overhead.json"
BUILD_ARGS = ["build", "--quantize", "int8"]
STAGE_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\w+)")

BARE = """
import os, sys, time, json
start = time.perf_counter()
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
import calibration_data
parts = {"tensorflow_import": time.perf_counter() - start}
d = np.load(calibration_data.folder() / "demo_regression.npz")
keras.utils.set_random_seed(0)
inp = keras.Input((10,))
m = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Dense(64, activation="gelu")(inp)))
m.compile(keras.optimizers.Adam(3e-3), "mse")
t = time.perf_counter()
m.fit(d["x_train"], d["y_train"], epochs=40, batch_size=64, verbose=0)
parts["fit"] = time.perf_counter() - t
t = time.perf_counter()
fn = tf.function(lambda x: m(x)).get_concrete_function(tf.TensorSpec([1, 10], tf.float32))
c = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
c.optimizations = [tf.lite.Optimize.DEFAULT]
c.representative_dataset = lambda: ([d["x_calib"][i:i + 1]] for i in range(len(d["x_calib"])))
c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
c.inference_input_type = c.inference_output_type = tf.int8
open(os.path.join(os.environ["OUT"], "bare.tflite"), "wb").write(c.convert())
parts["convert"] = time.perf_counter() - t
open(os.path.join(os.environ["OUT"], "bare_parts.json"), "w").write(json.dumps(parts))
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
# The build in-process, with library calls wrapped to time them; the pipeline is untouched.
PROBE = """
import json, os, sys, time, runpy
from collections import defaultdict
parts = defaultdict(float)
start = time.perf_counter()
import pipeline.tfenv
with pipeline.tfenv.captured_native_output():
    import tensorflow, keras
parts["tensorflow_import"] = time.perf_counter() - start

def timed(owner, name, key):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            parts[key] += time.perf_counter() - t
    setattr(owner, name, wrapper)

timed(keras.Model, "fit", "keras_fit")
timed(keras.Model, "predict", "keras_predict")
import matplotlib.figure
timed(matplotlib.figure.Figure, "savefig", "matplotlib_savefig")
sys.argv = ["pipeline", *json.loads(os.environ["BUILD_ARGS"])]
try:
    runpy.run_module("pipeline", run_name="__main__")
except SystemExit as exit:
    if exit.code:
        raise
finally:
    parts["process"] = time.perf_counter() - start
    with open(os.environ["PARTS"], "w") as f:
        json.dump(parts, f)
"""


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, list[tuple[float, str]]]:
    """Wall seconds of a fresh process, and each stderr line with when it arrived."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = [(time.perf_counter() - start, line.rstrip()) for line in proc.stderr]
    if proc.wait():
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed:\n"
                         + "\n".join(text for _, text in lines[-20:]))
    return time.perf_counter() - start, lines


def _stages(wall: float, lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds per stage between the `[i/n] stage` lines; `startup` before the first (Python,
    Click and the pipeline's imports; TensorFlow is imported inside the train stage)."""
    marks = [(at, m.group(3)) for at, text in lines if (m := STAGE_LINE.match(text))]
    if not marks:
        return {}
    spans = {"startup": marks[0][0]}
    for (at, name), (end, _) in zip(marks, [*marks[1:], (wall, "")]):
        spans[name] = end - at
    return spans


def build_once(tmp: str) -> dict[str, object]:
    """One timed `python -m pipeline build`: wall, stages, and the build's own timings."""
    out = Path(tmp) / "build"
    wall, lines = _run([sys.executable, "-m", "pipeline", *BUILD_ARGS, "--out", str(out)], {})
    parity = json.loads((out / "parity.json").read_text())
    train = json.loads((out / "train.json").read_text())
    return {"wall": wall, "stages": _stages(wall, lines), "timings": parity.get("timings", {}),
            "train_json_seconds": train["seconds"], "eval_mae_float": train["eval_mae_float"]}


def probe_once(tmp: str) -> dict[str, float]:
    """The build's main parts, timed by wrapping library calls in one build process."""
    parts = Path(tmp) / "parts.json"
    _run([sys.executable, "-c", PROBE],
         {"BUILD_ARGS": json.dumps([*BUILD_ARGS, "--out", f"{tmp}/probe"]),
          "PARTS": str(parts)})
    return json.loads(parts.read_text())


def bare_once(tmp: str) -> dict[str, float]:
    """The bare script and its runtime pass, each a fresh process."""
    train_convert, _ = _run([sys.executable, "-c", BARE], {"OUT": tmp})
    runtime, _ = _run([sys.executable, "-c", BARE_RUN], {"OUT": tmp})
    parts = json.loads((Path(tmp) / "bare_parts.json").read_text())
    return {"wall": train_convert + runtime, "train_convert_process": train_convert,
            "runtime_process": runtime, **parts}


def _summary(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median, min and max of each key over the runs."""
    keys = dict.fromkeys(k for run in runs for k in run)
    return {k: {"median": round(statistics.median(v), 3), "min": round(min(v), 3),
                "max": round(max(v), 3)}
            for k in keys if (v := [run[k] for run in runs if k in run])}


def main() -> None:
    """Time the build and the bare script, print the breakdown, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        build_once(tmp)  # warms the --approx auto cache; not counted
    builds, probes, bares = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            builds.append(build_once(tmp))
            probes.append(probe_once(tmp))
            bares.append(bare_once(tmp))
    build = {"wall": _summary([{"wall": b["wall"]} for b in builds])["wall"],
             "stages": _summary([b["stages"] for b in builds]),
             "timings": _summary([b["timings"] for b in builds]),
             "train_json_seconds": _summary([{"s": b["train_json_seconds"]}
                                             for b in builds])["s"],
             "eval_mae_float": sorted({b["eval_mae_float"] for b in builds})}
    bare = _summary(bares)
    result = {
        "machine": platform.machine(), "cpus": os.cpu_count(), "repeats": args.repeats,
        "command": ["python", "-m", "pipeline", *BUILD_ARGS, "--out", "<tmp>"],
        "approx_cache": "warm (one untimed build first)",
        # other work on the machine slows both sides; 1-minute load before and after the runs
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "build_s_median": build["wall"]["median"], "bare_s_median": bare["wall"]["median"],
        "build_s": [round(b["wall"], 3) for b in builds],
        "bare_s": [round(b["wall"], 3) for b in bares],
        "build": build, "build_inside": _summary(probes), "bare": bare,
    }
    result["overhead_s"] = round(result["build_s_median"] - result["bare_s_median"], 3)
    result["build_over_bare"] = round(result["build_s_median"] / result["bare_s_median"], 2)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"gelu-edge build: {result['build_s_median']:.1f} s (median of {args.repeats}; "
          f"runs {', '.join(f'{s:.1f}' for s in result['build_s'])})")
    for name, s in build["stages"].items():
        print(f"  {name:<12} {s['median']:6.2f} s")
    inside = result["build_inside"]
    print("  inside: " + ", ".join(f"{k} {v['median']:.2f} s" for k, v in inside.items()))
    print(f"bare train + convert + runtime pass: {result['bare_s_median']:.1f} s (runs "
          f"{', '.join(f'{s:.1f}' for s in result['bare_s'])}): "
          + ", ".join(f"{k} {bare[k]['median']:.2f} s"
                      for k in ("tensorflow_import", "fit", "convert", "runtime_process")))
    print(f"build / bare: {result['build_over_bare']:.2f}")


if __name__ == "__main__":
    main()
