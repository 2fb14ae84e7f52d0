"""Cosine to the Keras reference and nearest-neighbour agreement of every run -> results.json.

Reads --work/ref.npy and --work/outputs/<model>.<runtime>.{json,npy}, --records/models.json and
--records/<recipe>.quant.json; writes --records/results.json. The `diagnostics` entries of an
existing results.json are kept: they come from a one-off model this benchmark no longer builds
(README.md, Notes).
"""

from __future__ import annotations

import json

import numpy as np
from folders import MODELS, RUNTIMES, parser

# Measured with diag_scales.py on the static models; quoted, not recomputed.
SOFTMAX_INPUT_SCALES = {"static_wi8_ai8": 3921569.0, "static_wi8_ai16": 30518.509765625}
# The versions of the recorded run (README.md, Versions); numpy's is read at run time.
VERSIONS = {"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1", "keras_hub": "0.32.0",
            "numpy": None, "ai_edge_quantizer": "0.10.0", "ai_edge_litert": "2.3.0",
            "tflite_runtime": "2.14.0", "scipy (beside the venv)": "1.15.3",
            "immutabledict (beside the venv)": "4.3.1"}


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nn(x: np.ndarray) -> np.ndarray:
    """Each row's most cosine-similar other row."""
    s = unit(x) @ unit(x).T
    np.fill_diagonal(s, -np.inf)
    return s.argmax(1)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    ref = np.load(args.work / "ref.npy").astype(np.float64)
    ref_nn = nn(ref)
    models = json.loads((args.records / "models.json").read_text())
    rows = []
    for m in MODELS:
        for rt in RUNTIMES:
            info = json.loads((args.work / "outputs" / f"{m}.{rt}.json").read_text())
            if info.get("ok"):
                y = np.load(args.work / "outputs" / f"{m}.{rt}.npy").astype(np.float64)
                cos = np.sum(unit(y) * unit(ref), axis=1)
                info.update(mean_cosine=round(float(cos.mean()), 6),
                            min_cosine=round(float(cos.min()), 6),
                            nn_agreement=round(float(np.mean(nn(y) == ref_nn)), 4),
                            mean_output_norm=round(float(np.linalg.norm(y, axis=1).mean()), 4))
            info["model_bytes"] = (args.work / f"{m}.tflite").stat().st_size
            q = args.records / f"{m}.quant.json"
            if q.is_file():
                info["quantize"] = json.loads(q.read_text())
            rows.append(info)
    out = args.records / "results.json"
    diag = json.loads(out.read_text()).get("diagnostics", []) if out.is_file() else []
    res = {"reference": {"source": "keras model.predict(batch_size=32) on 600 evaluation rows",
                         "file": "ref.npy",
                         "nn_self_check": "nearest OTHER row by cosine among the 600"},
           "versions": {**VERSIONS, "numpy": np.__version__},
           "calibration": "static recipes: first 300 rows of calibration.npz, batch 1, "
                          "num_threads=1",
           "results": rows, "diagnostics": diag,
           "softmax_input_scales (diag_scales.py)": SOFTMAX_INPUT_SCALES,
           "model_ops": {k: v["ops"] for k, v in models.items()}}
    out.write_text(json.dumps(res, indent=1))
    for r in rows:
        if r.get("ok"):
            print(f"{r['model']:18s} {r['runtime']:15s} cos={r['mean_cosine']:.6f} "
                  f"min={r['min_cosine']:.6f} nn={r['nn_agreement']:.4f} "
                  f"ms={r['mean_invoke_ms']}")
        else:
            print(f"{r['model']:18s} {r['runtime']:15s} ERROR [{r['stage']}]: {r['error']}")


if __name__ == "__main__":
    main()
