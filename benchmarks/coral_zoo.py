"""Coral's Edge TPU segments on the small real models of the tests (tests/zoo.py: keras_hub BERT
and ViT, Keras' ConvNeXt at reduced size, random init and a few training steps on made-up
tasks): `gelu-edge build --target coral`, and per model the chain (segments, Edge TPU segments,
their share of the MACs, whether each passes the static check, the chain against
model.tflite), the on-chip cache verdict, the labelled estimate, and top-1 agreement with float
(the integer-only accuracy: issue "Integer-only transformers").

Run: .venv/bin/python benchmarks/coral_zoo.py [--models vit convnext]
Results: benchmarks/results/coral_zoo.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from zoo_builds import REPO, build, saved

RESULTS = REPO / "benchmarks" / "results" / "coral_zoo.json"


def _figures(parity: dict, convert: dict) -> dict[str, object]:
    first = parity["outputs"][0]
    chain = convert.get("segments") or {}
    tpu = [s for s in chain.get("segments", []) if s["side"] == "accelerator"]
    return {"top1_agreement": (first.get("task") or {}).get("top1_agreement"),
            "snr_db": round(first["metrics"]["snr_db"], 2),
            "segments": len(chain.get("segments", [])), "edgetpu_segments": len(tpu),
            "edgetpu_mac_share": round(chain.get("accelerator_mac_share", 0.0), 4),
            "edgetpu_checks_passed": all(s["check"] == "passed" for s in tpu),
            "chain_equal": (chain.get("chain_check") or {}).get("equal"),
            "edgetpu_parameter_bytes": chain.get("accelerator_parameter_bytes"),
            "streamed_bytes": chain.get("streamed_bytes"),
            "transfer_bytes": chain.get("transfer_bytes"),
            "estimate_ms": chain.get("estimate_ms"),
            "target_compatible": next(c["passed"] for c in parity["checks"]
                                      if c["name"] == "target_compatible")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bert", "vit", "convnext"])
    args = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, data in saved(args.models, Path(tmp)):
            found = _figures(*build(model, data, Path(tmp) / name, "--target", "coral",
                                    "--calibration-method", "auto"))
            results[name] = found
            print(f"{name:8} {found}", flush=True)
    RESULTS.write_text(json.dumps({"target": "coral", "results": results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
