"""Where every script of this benchmark reads and writes, defined once.

--data     the MiniLM model and its sentences as benchmarks/minilm.py writes them
           (minilm.keras, evaluation.npz, calibration.npz): $GELU_EDGE_BENCH/model
--work     the converted and quantized models, ref.npy and outputs/ (large, not checked in):
           $GELU_EDGE_BENCH/ai_edge_quantizer
--records  the small JSON records that are checked in (models.json, *.quant.json,
           results.json): this folder

GELU_EDGE_BENCH defaults to build/bench-minilm in the repository, as for benchmarks/minilm.py.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BENCH = Path(os.environ.get("GELU_EDGE_BENCH", REPO / "build" / "bench-minilm"))

# Every (model, runtime) pair of the comparison, in the order of results.json.
MODELS = ["float_nosig", "float", "static_wi8_ai8", "dynamic_wi8_afp32", "static_wi8_ai16"]
RECIPES = ["static_wi8_ai8", "dynamic_wi8_afp32", "static_wi8_ai16"]
RUNTIMES = ["tflite_runtime", "litert"]
EVAL_ROWS = 600


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the three folders; each script adds its own arguments."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, default=BENCH / "model",
                   help="minilm.keras, evaluation.npz, calibration.npz (default: %(default)s)")
    p.add_argument("--work", type=Path, default=BENCH / "ai_edge_quantizer",
                   help="models, ref.npy and outputs/ (default: %(default)s)")
    p.add_argument("--records", type=Path, default=HERE,
                   help="models.json, *.quant.json, results.json (default: %(default)s)")
    return p


def folder_args(args: argparse.Namespace) -> list[str]:
    """The folder arguments again, to hand on to a child process."""
    return ["--data", str(args.data), "--work", str(args.work), "--records", str(args.records)]
