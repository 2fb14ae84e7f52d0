"""Latency of every GELU approximation's int8 op on each installed runtime, relative to `lut`.

Run: .venv/bin/python benchmarks/approx_latency.py [--shape 1,128,3072]
Runs `gelu-edge approximations --json` (each runtime in its own process, median of 20 invokes,
one thread) and writes benchmarks/results/approx_latency.json with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", default="1,128,3072")
    args = parser.parse_args()
    proc = subprocess.run([sys.executable, "-m", "pipeline", "approximations", "--json",
                           "--shape", args.shape], cwd=REPO, capture_output=True, text=True,
                          check=True)
    rows = json.loads(proc.stdout)
    result = {
        "machine": platform.machine(), "processor": platform.processor(),
        "python": platform.python_version(), "shape": args.shape,
        "variants": {r["name"]: {"latency_ms": r["latency_ms"], "vs_lut": r["latency_vs_lut"],
                                 "int8_max_lsb": r["int8_max_lsb"], "ops": r["ops"]}
                     for r in rows},
    }
    out = REPO / "benchmarks" / "results" / "approx_latency.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in result["variants"].items():
        cells = ", ".join(f"{rt} {ms:.3g} ms ({r['vs_lut'].get(rt, 0):.1f}x lut)"
                          for rt, ms in r["latency_ms"].items())
        print(f"{name:10s} {cells}")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
