"""Fit relu-corr's coefficients (A, B) on the int8 grid, over many calibration ranges.

Run: .venv/bin/python scripts/fit_relu_corr.py [--a -1.50,-1.36] [--b -0.28,-0.16] [--step 0.01]

For every calibration range, one model holds one relu-corr branch per (A, B) candidate (all
branches see the same input, each gets its own calibration), is converted with full-integer
int8 PTQ exactly as `gelu-edge approximations` converts a single-op model, and runs once on
all 256 input codes in the target runtime's own process. A candidate qualifies when it matches
the lookup table on [-8, 8] (issue #3: max + 0.05 LSB, mean + 0.02 LSB); the winner has the
smallest max error averaged over the ranges (a narrow asymmetric range such as [-5, 3] holds
every candidate's worst case near 1.15-1.2 LSB, so the worst case alone does not tell them
apart; it breaks ties). The top input code is left out: there the output saturates for every
variant, the lookup table too (the int8 grid's top input lies just above the calibrated
maximum). Writes
benchmarks/results/relu_corr_fit.json; the winner is then measured again through the
single-op path the product uses, which must give the same figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import approximations
from pipeline.approximations import Approximation, gelu_exact
from pipeline.approximations.measure import CODES, int8_error, single_op_model
from pipeline.approximations.relu_corr import relu_corr
from pipeline.device import edge_client
from pipeline.progress import Quiet

REPO = Path(__file__).resolve().parent.parent

# Symmetric, asymmetric, narrow and wide ranges, including the demo model's GELU site.
RANGES = [(-8, 8), (-6, 6), (-4, 4), (-5.67, 6.51), (-3, 10), (-2, 6), (-7, 5), (-10, 10),
          (-12, 12), (-5, 3), (-3, 3), (-16, 16), (-4, 12)]
MATCH_RANGE = (-8.0, 8.0)
LUT_MAX_SLACK_LSB, LUT_MEAN_SLACK_LSB = 0.05, 0.02  # issue #3
RESULT = REPO / "benchmarks" / "results" / "relu_corr_fit.json"


def _as_approximation(fn: Any) -> Approximation:
    """A Keras function wrapped so the product's single-op converter and measurer take it."""
    return Approximation(name="relu-corr-fit", summary="", reference=gelu_exact, keras_fn=fn,
                         int8_ops=frozenset(), uses_gelu_op=False, float_error=(1.0, 1.0))


def _branches(candidates: list[tuple[float, float]]) -> Approximation:
    """One output per candidate (A, B), all from the same input."""
    return _as_approximation(lambda x: tuple(relu_corr(x, a, b) for a, b in candidates))


def _errors(model: bytes, runtime: str, n: int) -> np.ndarray:
    """[n, 3]: max LSB, max LSB without the top input code, mean LSB, per branch."""
    from pipeline.tflite import graph as tflite_graph

    graph = tflite_graph.parse(model, "relu-corr fit model")
    inp = graph.tensors[graph.inputs[0]]
    x = ((np.arange(-128, 128) - inp.zero_point) * inp.scale).astype(np.float32)[None, :]
    with tempfile.TemporaryDirectory(prefix="gelu-edge-fit-") as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(model)
        arrays, about = edge_client.run(path, x, runtime, Quiet())
    ref = gelu_exact(x.astype(np.float64).ravel())
    rows = []
    for i in range(n):
        scale = about["outputs_quantization"][i][0]
        err = np.abs(arrays[f"y{i}"].astype(np.float64).ravel() - ref) / scale
        rows.append((err.max(), err[:-1].max(), err.mean()))
    return np.array(rows)


def _errors_of_lut(runtime: str) -> np.ndarray:
    """[ranges, 3]: the lookup table's figures on every range, for comparison."""
    lut = approximations.get("lut")
    return np.concatenate([_errors(single_op_model(lut, (1, CODES), lo, hi), runtime, 1)
                           for lo, hi in RANGES])


def _span(text: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in text.split(","))
    return lo, hi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=_span, default=(-1.50, -1.36), help="LO,HI of A")
    parser.add_argument("--b", type=_span, default=(-0.28, -0.16), help="LO,HI of B")
    parser.add_argument("--step", type=float, default=0.01)
    parser.add_argument("--runtime", default="tflite-runtime")
    args = parser.parse_args()
    grid_a = np.round(np.arange(args.a[0], args.a[1] + 1e-9, args.step), 4)
    grid_b = np.round(np.arange(args.b[0], args.b[1] + 1e-9, args.step), 4)
    candidates = [(float(a), float(b)) for a in grid_a for b in grid_b]
    start = time.time()
    table = np.zeros((len(RANGES), len(candidates), 3))
    for r, (lo, hi) in enumerate(RANGES):
        model = single_op_model(_branches(candidates), (1, CODES), lo, hi)
        table[r] = _errors(model, args.runtime, len(candidates))
        print(f"range [{lo}, {hi}] done ({time.time() - start:.0f} s)", file=sys.stderr)
    lut_table = _errors_of_lut(args.runtime)
    m = RANGES.index(MATCH_RANGE)
    lut = {"max_lsb": lut_table[m, 0], "mean_lsb": lut_table[m, 2]}
    qualifies = ((table[m, :, 0] <= lut["max_lsb"] + LUT_MAX_SLACK_LSB)
                 & (table[m, :, 2] <= lut["mean_lsb"] + LUT_MEAN_SLACK_LSB))
    if not qualifies.any():
        sys.exit("no candidate matches the lookup table on [-8, 8]; widen --a/--b")
    typical, worst = table[:, :, 1].mean(axis=0), table[:, :, 1].max(axis=0)
    worst_mean = table[:, :, 2].max(axis=0)
    order = [i for i in np.lexsort((worst, typical)) if qualifies[i]]
    best = order[0]
    a, b = candidates[best]
    check = int8_error(_as_approximation(lambda x: relu_corr(x, a, b)), *MATCH_RANGE,
                       args.runtime, Quiet())
    if abs(check["max_lsb"] - table[m, best, 0]) > 1e-9:
        sys.exit(f"the single-op path measures {check['max_lsb']:.4f} LSB, the fit "
                 f"{table[m, best, 0]:.4f}: outputs are not in branch order")

    def row(i: int) -> dict[str, Any]:
        return {"a": candidates[i][0], "b": candidates[i][1],
                "average_max_lsb": float(typical[i]), "worst_max_lsb": float(worst[i]),
                "worst_mean_lsb": float(worst_mean[i]),
                "per_range": [{"range": list(rng), "max_lsb": float(table[r, i, 0]),
                               "max_lsb_without_top_code": float(table[r, i, 1]),
                               "mean_lsb": float(table[r, i, 2])}
                              for r, rng in enumerate(RANGES)]}

    about = edge_client.runtime_info(args.runtime)
    result = {"runtime": about, "ranges": [list(r) for r in RANGES],
              "lut_per_range": [{"range": list(rng), "max_lsb": float(lut_table[r, 0]),
                                 "max_lsb_without_top_code": float(lut_table[r, 1]),
                                 "mean_lsb": float(lut_table[r, 2])}
                                for r, rng in enumerate(RANGES)],
              "candidates": len(candidates), "qualifying": int(qualifies.sum()),
              "best": row(best), "runners_up": [row(i) for i in order[1:6]]}
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"A = {a}, B = {b}: max error {typical[best]:.3f} LSB on average over {len(RANGES)} "
          f"ranges, {worst[best]:.3f} at worst (top code aside); [-8, 8] "
          f"{table[m, best, 0]:.3f} / {table[m, best, 2]:.3f} LSB max / mean (lookup table "
          f"{lut['max_lsb']:.3f} / {lut['mean_lsb']:.3f})")
    print(f"wrote {RESULT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
