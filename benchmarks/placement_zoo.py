"""The placements on the small real models of the tests (tests/zoo.py: keras_hub BERT, GPT-2 and
ViT and Keras' ConvNeXt at reduced size, random init and a few training steps on made-up
tasks): `gelu-edge build --target rpi` as it places them by default, with attention's
activation matmuls float (`--attention float`), and with --integer-only;
top-1 agreement with float, output SNR, the int8 share of the matrix ops' MACs and the latency
against float32 on this machine's runtime, from each build's parity.json.

Run: .venv/bin/python benchmarks/placement_zoo.py [--models bert vit]
Results: benchmarks/results/placement_zoo.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from zoo_builds import REPO, build, saved

RESULTS = REPO / "benchmarks" / "results" / "placement_zoo.json"
BUILDS = {"default": [], "attention-float": ["--attention", "float"],
          "integer-only": ["--integer-only"]}


def _figures(parity: dict, convert: dict) -> dict[str, object]:
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
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, data in saved(args.models, Path(tmp)):
            results[name] = {}
            for label, extra in BUILDS.items():
                found = _figures(*build(model, data, Path(tmp) / f"{name}-{label}", *extra))
                results[name][label] = found
                print(f"{name:8} {label:13} {found}", flush=True)
    RESULTS.write_text(json.dumps({"target": "rpi", "results": results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
