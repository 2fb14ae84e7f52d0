"""The gate's configuration: defaults < ./pyproject.toml < --config < flags, per output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import read_json

from pipeline.gate.thresholds import DEFAULT_MIN_SNR_DB, resolve

STRICT_SNR_DB = 99.0  # no int8 model reaches it
LAX_SNR_DB = 5.0


def _pyproject(folder: Path, body: str) -> None:
    (folder / "pyproject.toml").write_text(f"[project]\nname = 'user-project'\n\n{body}")


def test_resolution_order(tmp_path: Path) -> None:
    assert resolve({}, project=tmp_path).min_snr_db == DEFAULT_MIN_SNR_DB
    _pyproject(tmp_path, "[tool.gelu-edge.thresholds]\nmin_snr_db = 25\nmin_cosine = 0.995\n"
                         "[tool.gelu-edge.thresholds.outputs.y]\nmax_error_lsb = 8\n")
    th = resolve({}, project=tmp_path)
    assert (th.min_snr_db, th.min_cosine, th.outputs) == (
        25.0, 0.995, {"y": {"max_error_lsb": 8.0}})
    config = tmp_path / "gate.toml"
    config.write_text("[thresholds]\nmin_snr_db = 30\n")
    th = resolve({}, config, project=tmp_path)
    assert th.min_snr_db == 30.0 and th.min_cosine == 0.995
    th = resolve({"min_snr_db": 12.0, "max_error_lsb": 40.0}, config, project=tmp_path)
    assert th.min_snr_db == 12.0 and th.for_output("y").max_error_lsb == 40.0
    assert th.sources[-1] == "command line"


@pytest.mark.parametrize("body, message", [
    ("[tool.gelu-edge.thresholds]\nmin_snr = 3\n", "unknown threshold(s) min_snr"),
    ("[tool.gelu-edge.thresholds]\nmin_snr_db = 'high'\n", "must be numbers"),
    ("[tool.gelu-edge.thresholds\n", "not valid TOML"),
])
def test_bad_config_is_one_line_exit_2(cli, demo_build: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, body: str,
                                       message: str) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    _pyproject(tmp_path, body)
    monkeypatch.chdir(tmp_path)
    r = cli("parity", "--out", out, "--samples", "50")
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r


def test_per_output_threshold_from_pyproject_gates_the_build(cli, demo_build: Path,
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    _pyproject(tmp_path, f"[tool.gelu-edge.thresholds]\nmin_snr_db = {LAX_SNR_DB}\n"
                         f"[tool.gelu-edge.thresholds.outputs.y]\nmin_snr_db = {STRICT_SNR_DB}\n")
    monkeypatch.chdir(tmp_path)
    r = cli("parity", "--out", out, "--samples", "100")
    assert r.code == 1, r
    parity = read_json(out / "parity.json")
    row = next(t for t in parity["thresholds"] if t["threshold"] == "min_snr_db")
    assert (row["output"], row["limit"], row["passed"]) == ("y", STRICT_SNR_DB, False)
    assert parity["threshold_sources"] == [str(tmp_path / "pyproject.toml")]
    r = cli("parity", "--out", out, "--samples", "100", "--min-snr-db", str(LAX_SNR_DB))
    assert r.code == 0, r  # the flag wins over the file, per output too


INT16_STEPS_PER_INT8_STEP = 256


@pytest.mark.parametrize(("bits", "error_lsb", "passes"), [
    (8, 31.0, True), (8, 33.0, False),  # int8 output: the limit as given
    (16, 7798.0, True),  # MiniLM int16x8's worst error, in int16 steps: 30.5 int8 steps
    (16, 33.0 * INT16_STEPS_PER_INT8_STEP, False),
])
def test_the_lsb_limit_is_in_int8_steps_whatever_the_output_type(bits: int, error_lsb: float,
                                                                  passes: bool) -> None:
    from pipeline.gate.thresholds import DEFAULT_MAX_ERROR_LSB, Thresholds, evaluate
    from pipeline.records.parity import Metrics, TaskResult

    m = Metrics(max_abs_error=1.0, mean_abs_error=0.1, rmse=0.2, snr_db=40.0, cosine=0.9999,
                max_error_lsb=error_lsb)
    rows = evaluate(Thresholds(), m, TaskResult(kind=None, metric=None), "y", bits)
    row = next(r for r in rows if r.threshold == "max_error_lsb")
    assert row.passed is passes
    assert row.limit == DEFAULT_MAX_ERROR_LSB * (INT16_STEPS_PER_INT8_STEP if bits == 16 else 1)


@pytest.mark.parametrize(("dtype", "bits"), [("INT8", 8), ("UINT8", 8), ("INT16", 16),
                                             ("FLOAT32", 8)])
def test_an_outputs_width_comes_from_its_type(dtype: str, bits: int) -> None:
    from pipeline.stages.parity import output_bits

    assert output_bits(dtype) == bits
