"""The runtime parity runs on here: the target's, or LiteRT standing in where tflite-runtime is
not installed (Python 3.12 and later). This machine has both, so the LiteRT-only path is forced
with GELU_EDGE_RUNTIMES=litert, which the runner honours too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, read_json

from edge import exit_codes, runtimes
from pipeline.targets import runtime_choice


def test_the_targets_runtime_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtimes.ALLOW_ENV, raising=False)
    assert set(runtimes.installed()) == {"tflite-runtime", "litert"}
    assert runtime_choice.choose("tflite-runtime") == runtime_choice.RuntimeChoice("tflite-runtime")


def test_litert_stands_in_when_tflite_runtime_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtimes.ALLOW_ENV, "litert")
    assert runtimes.installed() == ["litert"]
    choice = runtime_choice.choose("tflite-runtime")
    assert (choice.name, choice.stands_in_for) == ("litert", "tflite-runtime")
    assert "GELU_EDGE_RUNTIMES=litert" in choice.note and "tflite-runtime 2.14" in choice.note
    # An explicit --runtime is never replaced; a runtime without a stand-in stays.
    assert runtime_choice.choose("tflite-runtime", "tflite-runtime").name == "tflite-runtime"
    assert runtime_choice.choose("litert").stands_in_for is None


def test_the_runner_refuses_a_runtime_turned_off() -> None:
    proc = subprocess.run([sys.executable, "-m", "edge", "info", "--runtime", "tflite-runtime"],
                          cwd=REPO, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", runtimes.ALLOW_ENV: "litert"})
    assert proc.returncode == exit_codes.RUNNER_MISSING, proc.stderr
    assert "turned off here by GELU_EDGE_RUNTIMES=litert" in proc.stderr


def test_parity_on_the_litert_only_path_says_so(cli, demo_copy: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """coral's parity runs on tflite-runtime's CPU kernels; where only LiteRT is, it stands in
    (the demo's GELU op fails coral's check: exit 1, the report is written all the same)."""
    out = demo_copy
    monkeypatch.setenv(runtimes.ALLOW_ENV, "litert")
    r = cli("parity", "--out", out, "--target", "coral")
    assert r.code in (0, 1), r
    assert "parity ran on litert instead" in r.err
    rt = read_json(out / "parity.json")["runtime"]
    assert (rt["name"], rt["stands_in_for"]) == ("litert", "tflite-runtime")
    assert cli("report", "--out", out).code in (0, 1)
    assert "runtime stand-in: tflite-runtime was not used" in (out / "parity.md").read_text()
