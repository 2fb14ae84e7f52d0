# Usage: python run_eval.py <model_stem> <tflite_runtime|litert>
# Runs the 600 evaluation rows, one invoke per row (batch 1), on one runtime, num_threads=1.
# Writes outputs/<stem>.<runtime>.npy (dequantized float32 [600,384]) and outputs/<stem>.<runtime>.json.
# Never imports tensorflow.
import sys, json, time, traceback
import numpy as np
stem, rt = sys.argv[1], sys.argv[2]
OUT = "/tmp/aeq-work"
info = {"model": stem, "runtime": rt}
def fail(stage, e):
    msg = f"{type(e).__name__}: {e}"
    info.update(ok=False, stage=stage, error=" | ".join(l.strip() for l in msg.strip().splitlines() if l.strip()),
                error_first_line=msg.strip().splitlines()[0] if msg.strip() else type(e).__name__)
    json.dump(info, open(f"{OUT}/outputs/{stem}.{rt}.json", "w"), indent=1); print(json.dumps(info)); sys.exit(0)
if rt == "tflite_runtime":
    import tflite_runtime; from tflite_runtime.interpreter import Interpreter
    info["runtime_version"] = tflite_runtime.__version__
else:
    import importlib.metadata as md; from ai_edge_litert.interpreter import Interpreter
    info["runtime_version"] = md.version("ai-edge-litert")
try:
    it = Interpreter(model_path=f"{OUT}/{stem}.tflite", num_threads=1)
except Exception as e: fail("load", e)
try:
    it.allocate_tensors()
except Exception as e: fail("allocate_tensors", e)
ins = {d["name"]: d for d in it.get_input_details()}
pm = next(d for n, d in ins.items() if "padding_mask" in n); tk = next(d for n, d in ins.items() if "token_ids" in n)
od = it.get_output_details()[0]
scale, zp = od["quantization"]
info["output_dtype"] = np.dtype(od["dtype"]).name; info["output_quant"] = [float(scale), int(zp)]
e = np.load("/tmp/gelu-edge-bench-minilm/model/evaluation.npz")
P, T = e["x_padding_mask"], e["x_token_ids"]
outs = np.zeros((len(T), od["shape"][-1]), np.float32); times = []
try:
    for i in range(len(T)):
        it.set_tensor(pm["index"], P[i:i+1].astype(pm["dtype"]))
        it.set_tensor(tk["index"], T[i:i+1].astype(tk["dtype"]))
        t0 = time.perf_counter(); it.invoke(); times.append(time.perf_counter() - t0)
        y = it.get_tensor(od["index"]).reshape(-1)
        outs[i] = (y.astype(np.float32) - zp) * scale if scale != 0.0 and y.dtype != np.float32 else y.astype(np.float32)
except Exception as ex: fail(f"invoke(row {i})", ex)
np.save(f"{OUT}/outputs/{stem}.{rt}.npy", outs)
info.update(ok=True, rows=len(T), mean_invoke_ms=round(1000 * float(np.mean(times)), 2),
            median_invoke_ms=round(1000 * float(np.median(times)), 2))
json.dump(info, open(f"{OUT}/outputs/{stem}.{rt}.json", "w"), indent=1); print(json.dumps(info))
