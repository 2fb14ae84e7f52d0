"""The device-side runner: its imports, its outputs and its errors, run as `python -m edge`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
ALLOWED_THIRD_PARTY = {"numpy", "tflite_runtime", "ai_edge_litert", "edge"}
# x86_64 builds of the two runtimes may round a fully-connected accumulator differently.
RUNTIMES_MAX_LSB_DIFF = 1


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_edge_imports_only_stdlib_numpy_and_runtimes() -> None:
    files = list((REPO / "edge").rglob("*.py"))
    assert files
    for path in files:
        extra = _imports(path) - set(sys.stdlib_module_names) - ALLOWED_THIRD_PARTY
        assert not extra, f"{path.relative_to(REPO)} imports {sorted(extra)}"


def _edge(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, **kw)


@pytest.mark.parametrize("runtime", ["tflite-runtime", "litert"])
def test_run_never_imports_tensorflow(tmp_path: Path, tiny_model: Path, runtime: str) -> None:
    x = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = _edge("-X", "importtime", "-m", "edge", "run", "--model", str(tiny_model),
                 "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz"),
                 "--runtime", runtime)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"tensorflow", "keras", "pipeline"}
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["name"] == runtime and info["samples"] == 20
    with np.load(tmp_path / "y.npz") as out:
        scale, zero_point = info["output_quantization"]
        assert out["y_raw"].dtype == np.int8 and out["y"].shape == (20, 3)
        np.testing.assert_array_equal(
            out["y"], ((out["y_raw"].astype(np.float64) - zero_point) * scale).astype(np.float32))


def test_runtimes_agree_within_one_lsb(tmp_path: Path, tiny_model: Path) -> None:
    x = np.random.default_rng(1).standard_normal((200, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    raws = []
    for runtime in ("tflite-runtime", "litert"):
        out = tmp_path / f"{runtime}.npz"
        proc = _edge("-m", "edge", "run", "--model", str(tiny_model), "--input",
                     str(tmp_path / "x.npy"), "--output", str(out), "--runtime", runtime)
        assert proc.returncode == 0, proc.stderr[-2000:]
        raws.append(np.load(out)["y_raw"].astype(int))
    assert np.max(np.abs(raws[0] - raws[1])) <= RUNTIMES_MAX_LSB_DIFF


def test_damaged_model_is_a_clear_error(tmp_path: Path, tiny_model: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    np.save(tmp_path / "x.npy", np.zeros((2, 8), np.float32))
    proc = _edge("-m", "edge", "run", "--model", str(bad), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npz"))
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1].startswith("edge: error: tflite-runtime")


def test_missing_inputs_and_model(tmp_path: Path, tiny_model: Path) -> None:
    proc = _edge("-m", "edge", "run", "--model", str(tiny_model), "--input",
                 str(tmp_path / "none.npy"), "--output", str(tmp_path / "y.npz"))
    assert proc.returncode == 2 and "cannot read inputs" in proc.stderr
    np.save(tmp_path / "x.npy", np.zeros((2, 5), np.float32))
    proc = _edge("-m", "edge", "run", "--model", str(tiny_model), "--input",
                 str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz"))
    assert proc.returncode == 2 and "sample shape" in proc.stderr
    assert not (tmp_path / "y.npz").exists()


@pytest.mark.parametrize("runtime", ["tflite-runtime", "litert"])
def test_bench_reports_a_median(tiny_model: Path, runtime: str) -> None:
    proc = _edge("-m", "edge", "bench", "--model", str(tiny_model), "--runtime", runtime,
                 "--repeats", "5")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["runtime"] == runtime and result["repeats"] == 5
    assert 0 < result["min_ms"] <= result["median_ms"]


def test_bench_stops_timing_at_its_time_cap(tiny_model: Path) -> None:
    proc = _edge("-m", "edge", "bench", "--model", str(tiny_model), "--repeats", "1000",
                 "--max-seconds", "0")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["repeats"] == 1 and result["median_ms"] > 0


def test_probe_times_a_few_invokes(tiny_model: Path) -> None:
    proc = _edge("-m", "edge", "probe", "--model", str(tiny_model), "--repeats", "2")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["repeats"] == 2 and found["warmup"] == 1 and found["cpus"] >= 1
    assert 0 < found["invoke_s"] < 1 and found["load_s"] >= 0 and found["machine"]


def test_a_deadline_stops_the_run_after_one_sample_at_least(tmp_path: Path,
                                                            tiny_model: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((50, 8), np.float32))
    proc = _edge("-m", "edge", "run", "--model", str(tiny_model), "--input",
                 str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz"), "--deadline", "0")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["samples"] == 1
    assert np.load(tmp_path / "y.npz")["y_raw"].shape == (1, 3)


def test_a_missing_delegate_is_a_clear_error(cli, demo_build: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    r = cli("parity", "--out", out, "--delegate", "/nonexistent/libedgetpu.so.1")
    # Refused before any work (pipeline/preflight.py), where the runner would load it.
    assert r.code == 2 and "--delegate /nonexistent/libedgetpu.so.1: no such file" in r.err, r


@pytest.mark.parametrize("raw, words", [
    ("gather index out of boundsNode number 4 (GATHER) failed to invoke.",
     "gather index out of bounds; Node number 4 (GATHER) failed to invoke."),
    ("tensor type mismatch.Node number 2 (ADD) failed to prepare.\n",
     "tensor type mismatch. Node number 2 (ADD) failed to prepare."),
    ("Didn't find op for builtin opcode 'GELU'\n  version '2'", "Didn't find op for builtin "
     "opcode 'GELU' version '2'"),
])
def test_runtime_messages_run_together_are_separated(raw: str, words: str) -> None:
    from edge.runner import runtime_words

    assert runtime_words(raw) == words
