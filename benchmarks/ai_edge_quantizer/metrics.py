# Cosine to the Keras reference and nearest-neighbour agreement, from outputs/*.npy -> results.json.
import json, os, glob, numpy as np
OUT = "/tmp/aeq-work"
ref = np.load(f"{OUT}/ref.npy").astype(np.float64)
def unit(x): return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
def nn(x):
    s = unit(x) @ unit(x).T; np.fill_diagonal(s, -np.inf); return s.argmax(1)
ref_nn = nn(ref)
models = json.load(open(f"{OUT}/models.json"))
rows = []
for m in ["float_nosig", "float", "static_wi8_ai8", "dynamic_wi8_afp32", "static_wi8_ai16"]:
    for rt in ["tflite_runtime", "litert"]:
        info = json.load(open(f"{OUT}/outputs/{m}.{rt}.json"))
        if info.get("ok"):
            y = np.load(f"{OUT}/outputs/{m}.{rt}.npy").astype(np.float64)
            cos = np.sum(unit(y) * unit(ref), axis=1)
            info.update(mean_cosine=round(float(cos.mean()), 6), min_cosine=round(float(cos.min()), 6),
                        nn_agreement=round(float(np.mean(nn(y) == ref_nn)), 4),
                        mean_output_norm=round(float(np.linalg.norm(y, axis=1).mean()), 4))
        info["model_bytes"] = os.path.getsize(f"{OUT}/{m}.tflite")
        q = f"{OUT}/{m}.quant.json"
        if os.path.exists(q): info["quantize"] = json.load(open(q))
        rows.append(info)
diag = []
for rt in ["tflite_runtime", "litert"]:
    f = f"{OUT}/outputs/diag_dynamic_wi8t_afp32.{rt}.json"
    if os.path.exists(f):
        info = json.load(open(f))
        if info.get("ok"):
            y = np.load(f"{OUT}/outputs/diag_dynamic_wi8t_afp32.{rt}.npy").astype(np.float64)
            cos = np.sum(unit(y) * unit(ref), axis=1)
            info.update(mean_cosine=round(float(cos.mean()), 6), min_cosine=round(float(cos.min()), 6),
                        nn_agreement=round(float(np.mean(nn(y) == ref_nn)), 4))
        info["note"] = "diagnostic only: dynamic int8 weights TENSORWISE (quantize_diag_tensorwise.py)"
        diag.append(info)
res = {"reference": {"source": "keras model.predict(batch_size=32) on 600 evaluation rows", "file": "ref.npy",
                     "nn_self_check": "nearest OTHER row by cosine among the 600"},
       "versions": {"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1", "keras_hub": "0.32.0",
                    "numpy": np.__version__, "ai_edge_quantizer": "0.10.0", "ai_edge_litert": "2.3.0",
                    "tflite_runtime": "2.14.0", "scipy (in /tmp/aeq)": "1.15.3", "immutabledict (in /tmp/aeq)": "4.3.1"},
       "calibration": "static recipes: first 300 rows of calibration.npz, batch 1, num_threads=1",
       "results": rows, "diagnostics": diag,
       "softmax_input_scales (diag_scales.py)": {"static_wi8_ai8": 3921569.0, "static_wi8_ai16": 30518.509765625}, "model_ops": {k: v["ops"] for k, v in models.items()}}
json.dump(res, open(f"{OUT}/results.json", "w"), indent=1)
for r in rows:
    print(f"{r['model']:18s} {r['runtime']:15s} " + (f"cos={r['mean_cosine']:.6f} min={r['min_cosine']:.6f} nn={r['nn_agreement']:.4f} ms={r['mean_invoke_ms']}" if r.get("ok") else f"ERROR [{r['stage']}]: {r['error']}"))
