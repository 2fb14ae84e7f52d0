"""Make `demo_regression.npz`, the built-in demo data set (numpy only, deterministic).

Run: python calibration_data/make_demo_regression.py [OUT.npz]
The test suite regenerates the arrays and checks they equal the shipped file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SEED = 20261125
FEATURES = 10
SPLITS = {"train": 4000, "eval": 1000, "calib": 1000}
NOISE_STD = 0.05


def target(x: np.ndarray) -> np.ndarray:
    """A smooth nonlinear function of 8 of the 10 features (2 are distractors)."""
    return (
        np.sin(1.5 * x[:, 0])
        + 0.8 * x[:, 1] * x[:, 2]
        + 0.6 * np.abs(x[:, 3])
        - 0.4 * x[:, 4] ** 2
        + np.tanh(x[:, 5] + x[:, 6])
        + 0.3 * x[:, 7]
    )


def make() -> dict[str, np.ndarray]:
    """All splits, drawn from one generator in a fixed order."""
    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {}
    for split, n in SPLITS.items():
        x = rng.standard_normal((n, FEATURES)).astype(np.float32)
        y = (target(x.astype(np.float64)) + NOISE_STD * rng.standard_normal(n)).astype(np.float32)
        arrays[f"x_{split}"] = x
        if split != "calib":
            arrays[f"y_{split}"] = y[:, None]
    return arrays


if __name__ == "__main__":
    default = Path(__file__).with_name("demo_regression.npz")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    np.savez_compressed(out, **make())
    print(f"wrote {out}")
