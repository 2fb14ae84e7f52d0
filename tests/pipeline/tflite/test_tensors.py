"""Reading a model's intermediate tensors on calibration samples (smoothing, attention's and
ai-edge-quantizer's ranges) prints nothing of LiteRT's own: its "Created TensorFlow Lite
XNNPACK delegate" line reached the terminal in every MiniLM build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PROBE = """
import sys
import numpy as np
from pipeline.tflite import tensors
data = open(sys.argv[1], "rb").read()
x = np.load(sys.argv[2])["x_calib"][:2]
for interpreter in tensors.on_samples(data, x, 2):
    assert interpreter.get_tensor_details()
print("read")
"""


def test_reading_tensors_keeps_the_runtimes_own_lines_off_the_terminal(demo_build: Path
                                                                         ) -> None:
    # A fresh process: LiteRT announces its delegate once per process.
    data = REPO / "calibration_data" / "demo_regression.npz"
    done = subprocess.run([sys.executable, "-c", PROBE, str(demo_build / "model.tflite"),
                           str(data)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "read", done.stderr
    assert "XNNPACK" not in done.stderr, done.stderr
