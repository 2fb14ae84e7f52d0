"""Run the evaluation rows through one model on one runtime, one invoke per row (batch 1).

    run_eval.py <model> <tflite_runtime|litert>

num_threads=1. Writes --work/outputs/<model>.<runtime>.npy (dequantized float32 [rows, 384])
and --work/outputs/<model>.<runtime>.json (timings, or the stage that failed and its error).
Never imports tensorflow.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from folders import RUNTIMES, parser


def _fail(info: dict[str, Any], record: Path, stage: str, e: Exception) -> NoReturn:
    """Record the failure and exit 0: a runtime error is a result, not a crash of this script."""
    msg = f"{type(e).__name__}: {e}"
    info.update(ok=False, stage=stage,
                error=" | ".join(line.strip() for line in msg.strip().splitlines()
                                 if line.strip()),
                error_first_line=msg.strip().splitlines()[0] if msg.strip() else type(e).__name__)
    record.write_text(json.dumps(info, indent=1))
    print(json.dumps(info))
    sys.exit(0)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("model", help="the stem of --work/<model>.tflite")
    p.add_argument("runtime", choices=RUNTIMES)
    args = p.parse_args()
    stem, rt = args.model, args.runtime
    outputs = args.work / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    record = outputs / f"{stem}.{rt}.json"
    info: dict[str, Any] = {"model": stem, "runtime": rt}
    if rt == "tflite_runtime":
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter
        info["runtime_version"] = tflite_runtime.__version__
    else:
        import importlib.metadata as md

        from ai_edge_litert.interpreter import Interpreter
        info["runtime_version"] = md.version("ai-edge-litert")
    try:
        it = Interpreter(model_path=str(args.work / f"{stem}.tflite"), num_threads=1)
    except Exception as e:
        _fail(info, record, "load", e)
    try:
        it.allocate_tensors()
    except Exception as e:
        _fail(info, record, "allocate_tensors", e)
    ins = {d["name"]: d for d in it.get_input_details()}
    # Input names differ between the two float conversions: match them by what they contain.
    pm = next(d for n, d in ins.items() if "padding_mask" in n)
    tk = next(d for n, d in ins.items() if "token_ids" in n)
    od = it.get_output_details()[0]
    scale, zp = od["quantization"]
    info["output_dtype"] = np.dtype(od["dtype"]).name
    info["output_quant"] = [float(scale), int(zp)]
    e = np.load(args.data / "evaluation.npz")
    P, T = e["x_padding_mask"], e["x_token_ids"]
    outs = np.zeros((len(T), od["shape"][-1]), np.float32)
    times = []
    i = 0
    try:
        for i in range(len(T)):
            it.set_tensor(pm["index"], P[i:i + 1].astype(pm["dtype"]))
            it.set_tensor(tk["index"], T[i:i + 1].astype(tk["dtype"]))
            t0 = time.perf_counter()
            it.invoke()
            times.append(time.perf_counter() - t0)
            y = it.get_tensor(od["index"]).reshape(-1)
            quantized = scale != 0.0 and y.dtype != np.float32
            outs[i] = (y.astype(np.float32) - zp) * scale if quantized else y.astype(np.float32)
    except Exception as ex:
        _fail(info, record, f"invoke(row {i})", ex)
    np.save(outputs / f"{stem}.{rt}.npy", outs)
    info.update(ok=True, rows=len(T), mean_invoke_ms=round(1000 * float(np.mean(times)), 2),
                median_invoke_ms=round(1000 * float(np.median(times)), 2))
    record.write_text(json.dumps(info, indent=1))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
