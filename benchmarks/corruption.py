"""Damaged artifacts against gelu-edge's chain of custody, and against the stock runtime.

For each seed, 5 random bytes of a built demo model.tflite (then of parity.json) are changed;
`gelu-edge report`, `gelu-edge parity` and `gelu-edge verify` must refuse the folder. Beside it,
what tflite-runtime 2.14 itself does with the damaged model: crash, error, or run silently.

Run: .venv/bin/python benchmarks/corruption.py [--trials 30]
Results: benchmarks/results/corruption.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from helpers import BYTES_CHANGED, corrupt  # noqa: E402 (tests/ is not a package)

STOCK_LOAD = """
import sys
import numpy as np
from tflite_runtime.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1])
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
it.invoke()
"""


def _gelu_edge(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600).returncode


def _stock(model: Path) -> str:
    code = subprocess.run([sys.executable, "-c", STOCK_LOAD, str(model)], capture_output=True,
                          timeout=120).returncode
    return "crash" if code < 0 else "error" if code else "silent"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    counts: dict[str, dict[str, int]] = {
        "model.tflite": {"report": 0, "parity": 0, "verify": 0},
        "parity.json": {"report": 0, "diff": 0, "verify": 0},
        "stock_runtime": {"crash": 0, "error": 0, "silent": 0}}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        assert _gelu_edge("build", "--out", str(base)) == 0
        for seed in range(args.trials):
            case = Path(tmp) / f"m{seed}"
            shutil.copytree(base, case)
            corrupt(case / "model.tflite", seed)
            counts["stock_runtime"][_stock(case / "model.tflite")] += 1
            refused = counts["model.tflite"]
            refused["report"] += _gelu_edge("report", str(case)) == 2
            refused["parity"] += _gelu_edge("parity", "--out", str(case)) == 2
            refused["verify"] += _gelu_edge("verify", str(case)) == 1
            shutil.rmtree(case)
            shutil.copytree(base, case)
            corrupt(case / "parity.json", seed)
            refused = counts["parity.json"]
            refused["report"] += _gelu_edge("report", str(case)) == 2
            refused["diff"] += _gelu_edge("diff", str(base), str(case)) == 2
            refused["verify"] += _gelu_edge("verify", str(case)) == 1
            shutil.rmtree(case)
            print(f"trial {seed + 1}/{args.trials}: {json.dumps(counts)}", flush=True)
    result = {"trials": args.trials, "bytes_changed": BYTES_CHANGED, "refused": counts}
    out = REPO / "benchmarks" / "results" / "corruption.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
