"""Make `digits.npz`, the data of `gelu-edge build --preset transformer` (numpy only).

Source: `digits.csv.gz` beside this script, the copy of the UCI "Optical Recognition of
Handwritten Digits" test set (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0) that scikit-learn ships
as `sklearn/datasets/data/digits.csv.gz` (scikit-learn 1.9.1, BSD-3-Clause): 1797 rows of 64
pixel counts (0..16, an 8x8 image) and the digit.

Run: python calibration_data/make_digits.py [OUT.npz]
The test suite regenerates the arrays and checks they equal the shipped file.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

SEED = 20261125
TRAIN, EVAL = 1400, 397  # 1797 in all; the eval split is held out from training
CALIB = 400  # calibration samples, taken from the training split


def make(source: Path) -> dict[str, np.ndarray]:
    """Shuffle deterministically and split; x as uint8 8x8 images (0..16), y as int64 labels."""
    with gzip.open(source, "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    rows = rows[np.random.default_rng(SEED).permutation(len(rows))]
    x = rows[:, :64].reshape(-1, 8, 8).astype(np.uint8)
    y = rows[:, 64].astype(np.int64)
    return {"x_train": x[:TRAIN], "y_train": y[:TRAIN], "x_eval": x[TRAIN:TRAIN + EVAL],
            "y_eval": y[TRAIN:TRAIN + EVAL], "x_calib": x[:CALIB]}


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "digits.npz"
    np.savez_compressed(out, **make(here / "digits.csv.gz"))
    print(f"wrote {out}")
