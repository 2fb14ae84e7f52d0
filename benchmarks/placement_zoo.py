"""The placements on the small real models of the tests (tests/zoo.py: keras_hub BERT, GPT-2 and
ViT and Keras' ConvNeXt at reduced size, random init and a few training steps on made-up
tasks): `gelu-edge build --target rpi` as it places them by default, and with --integer-only;
top-1 agreement with float, output SNR, the int8 share of the matrix ops' MACs and the latency
against float32 on this machine's runtime, from each build's parity.json.

Run: .venv/bin/python benchmarks/placement_zoo.py [--models bert vit]
Results: benchmarks/results/placement_zoo.json
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
RESULTS = REPO / "benchmarks" / "results" / "placement_zoo.json"
BUILDS = {"default": [], "integer-only": ["--integer-only"]}


def _build(model: Path, data: Path, extra: list[str], out: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--model", str(model),
                           "--data", str(data), "--target", "rpi", "--out", str(out), *extra],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"build failed ({extra}): {proc.stderr[-2000:]}")
    parity = json.loads((out / "parity.json").read_text())
    convert = json.loads((out / "convert.json").read_text())
    first = parity["outputs"][0]
    gains = parity.get("gains") or {}
    q, f = gains.get("quantized_latency"), gains.get("float_latency")
    return {"placement": convert["placement"], "samples": parity["samples"],
            "top1_agreement": (first.get("task") or {}).get("top1_agreement"),
            "snr_db": round(first["metrics"]["snr_db"], 2),
            "int8_mac_share": round(convert["int8_mac_share"], 4),
            "latency_vs_float": round(q["median_ms"] / f["median_ms"], 3) if q and f else None,
            "smoothed_inputs": len(convert.get("smoothing") or [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bert", "gpt2", "vit", "convnext"])
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
            for label, extra in BUILDS.items():
                found = _build(model_path, data_path, extra, Path(tmp) / f"{name}-{label}")
                results[name][label] = found
                print(f"{name:8} {label:13} {found}", flush=True)
    RESULTS.write_text(json.dumps({"target": "rpi", "results": results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
