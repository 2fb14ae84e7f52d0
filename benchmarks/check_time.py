"""How long `gelu-edge check` takes on the demo model, wall time as a user sees it (a fresh
process, imports included), and whether it imported TensorFlow.

Run: .venv/bin/python benchmarks/check_time.py [--repeats N] [--model M.tflite]
Without --model it builds the demo once in a temporary folder first (not timed). Writes the
median and every run to benchmarks/results/check_time.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Runs the CLI in this process and says whether TensorFlow got imported along the way.
PROBE = """
import sys
from pipeline.cli import main
try:
    main(["check", sys.argv[1], "--target", sys.argv[2]])
except SystemExit as exc:
    code = exc.code
print("tensorflow imported:", "tensorflow" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def _time(model: Path, target: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "gelu-edge"), "check", str(model),
                    "--target", target], cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--target", default="rpi")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            print("building the demo (not timed) ...", flush=True)
            subprocess.run([sys.executable, "-m", "pipeline", "build", "--out", f"{tmp}/b"],
                           cwd=REPO, check=True, capture_output=True)
            model = Path(tmp) / "b" / "model.tflite"
        probe = subprocess.run([sys.executable, "-c", PROBE, str(model), args.target], cwd=REPO,
                               capture_output=True, text=True)
        imported = "tensorflow imported: True" in probe.stderr
        runs = [_time(model, args.target) for _ in range(args.repeats)]
    result = {"machine": platform.machine(), "target": args.target,
              "median_s": round(statistics.median(runs), 3), "runs_s": [round(r, 3) for r in runs],
              "tensorflow_imported": imported}
    print(json.dumps(result, indent=2))
    out = REPO / "benchmarks" / "results" / "check_time.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
