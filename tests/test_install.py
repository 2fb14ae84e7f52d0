"""`pip install .` (not editable) into a fresh virtual environment outside the clone, from the
lock's wheels only (downloaded once per machine), gives a `gelu-edge` whose demo build runs from
any folder: the package ships its data and declares every import it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wheelhouse
from components import TEST_CACHE

pytestmark = [pytest.mark.slow, pytest.mark.network(cache="wheels")]

INSTALL_TIMEOUT_S = 900
BUILD_TIMEOUT_S = 600


def test_pip_install_into_a_fresh_environment_runs_the_demo_build(tmp_path: Path) -> None:
    wheels = wheelhouse.fill(TEST_CACHE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
           "--no-compile",  # byte-compiling TensorFlow alone takes longer than the build
           "--find-links", str(wheels), "-c", str(wheels / "constraints.txt")]
    subprocess.run([*pip, str(wheelhouse.REPO)], check=True, env=env, timeout=INSTALL_TIMEOUT_S,
                   cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import pipeline, calibration_data; print(pipeline.__file__)"],
                           check=True, env=env, cwd=elsewhere, capture_output=True, text=True)
    assert str(venv) in where.stdout, where.stdout  # the installed copy, not the clone
    # What is tested is the installed tool, not the demo's training: a short run does.
    build = subprocess.run([str(venv / "bin" / "gelu-edge"), "build", "--quantize", "int8",
                            "--epochs", "5", "--samples", "200", "--out", "out"], env=env,
                           cwd=elsewhere, capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT_S)
    assert build.returncode == 0, build.stderr[-2000:]
    parity = json.loads((elsewhere / "out" / "parity.json").read_text())
    assert parity["passed"] and len(parity["approx"]["sites"]) == 1
