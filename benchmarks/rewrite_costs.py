"""What each rewrite buys on the small real models of the tests (tests/zoo.py: keras_hub BERT and
GPT-2, random init and a few training steps): `gelu-edge build --target rpi` with the GELU
rewrite alone, then with layer norm or the attention mask added, then all of them; the output's
SNR to float and the float islands left, from each build's parity.json.

Run: .venv/bin/python benchmarks/rewrite_costs.py [--models bert gpt2]
Results: benchmarks/results/rewrite_costs.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results" / "rewrite_costs.json"
REWRITES = {"gelu only": "gelu", "gelu + layer-norm": "gelu,layer-norm",
            "gelu + attention-mask": "gelu,attention-mask", "all": "all"}
SAMPLES = "128"


def _build(model: Path, data: Path, rewrites: str, out: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--model", str(model),
                           "--data", str(data), "--target", "rpi", "--rewrites", rewrites,
                           "--samples", SAMPLES, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"build failed ({rewrites}): {proc.stderr[-2000:]}")
    parity = json.loads((out / "parity.json").read_text())
    islands = [c for c in parity["checks"] if c["name"] == "no_float_island"][0]
    return {"snr_db": round(parity["outputs"][0]["metrics"]["snr_db"], 2),
            "float_islands": not islands["passed"],
            "float_ops": sorted(op for op in ("NEG", "DEQUANTIZE", "QUANTIZE")
                                if op in parity["ops"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bert", "gpt2"])
    args = parser.parse_args()
    from zoo import ZOO

    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model, data, _ = ZOO[name]()
            model_path, data_path = Path(tmp) / f"{name}.keras", Path(tmp) / f"{name}.npz"
            model.save(model_path)
            np.savez(data_path, **data)
            results[name] = {}
            for label, rewrites in REWRITES.items():
                found = _build(model_path, data_path, rewrites, Path(tmp) / f"{name}-{rewrites}")
                results[name][label] = found
                print(f"{name:6} {label:24} {found}", flush=True)
    RESULTS.write_text(json.dumps({"target": "rpi", "samples": int(SAMPLES),
                                   "results": results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
