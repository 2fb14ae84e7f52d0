"""What each rewrite buys on the small real models of the tests (tests/zoo.py: keras_hub BERT and
GPT-2, random init and a few training steps): `gelu-edge build --target rpi --integer-only`
with the GELU rewrite alone, then with layer norm or the attention mask added, then all of
them; the output's SNR to float and the float islands left, from each build's parity.json.

Run: .venv/bin/python benchmarks/rewrite_costs.py [--models bert gpt2]
Results: benchmarks/results/rewrite_costs.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from zoo_builds import REPO, build, saved

RESULTS = REPO / "benchmarks" / "results" / "rewrite_costs.json"
REWRITES = {"gelu only": "gelu", "gelu + layer-norm": "gelu,layer-norm",
            "gelu + attention-mask": "gelu,attention-mask", "all": "all"}
SAMPLES = "128"


def _figures(parity: dict) -> dict[str, object]:
    islands = [c for c in parity["checks"] if c["name"] == "no_float_island"][0]
    return {"snr_db": round(parity["outputs"][0]["metrics"]["snr_db"], 2),
            "float_islands": not islands["passed"],
            "float_ops": sorted(op for op in ("NEG", "DEQUANTIZE", "QUANTIZE")
                                if op in parity["ops"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bert", "gpt2"])
    args = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, data in saved(args.models, Path(tmp)):
            results[name] = {}
            for label, rewrites in REWRITES.items():
                # every op int8: what the rewrites are for (the default placement of these
                # transformers keeps layer norm and attention in float and drops them)
                parity, _ = build(model, data, Path(tmp) / f"{name}-{rewrites}",
                                  "--rewrites", rewrites, "--samples", SAMPLES, "--integer-only")
                results[name][label] = found = _figures(parity)
                print(f"{name:6} {label:24} {found}", flush=True)
    RESULTS.write_text(json.dumps({"target": "rpi", "samples": int(SAMPLES),
                                   "results": results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
