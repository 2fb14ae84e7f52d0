"""`gelu-edge diff`: a deliberately degraded build is flagged; a build against itself is not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from pipeline.inputs.data import DEFAULT_DATA
from pipeline.records import ParityRecord

# Calibrating on inputs shrunk this much clips every real activation: a broken int8 model.
DEGRADE_CALIBRATION = 0.05


def test_diff_flags_a_degraded_build(cli, demo_build: Path, tmp_path: Path) -> None:
    bad = tmp_path / "degraded"
    shutil.copytree(demo_build, bad)
    with np.load(DEFAULT_DATA) as d:
        arrays = {k: d[k] for k in d.files}
    arrays["x_calib"] = arrays["x_calib"] * DEGRADE_CALIBRATION
    data = tmp_path / "narrow.npz"
    np.savez(data, **arrays)
    assert cli("convert", "--out", bad, "--data", data).code == 0
    assert cli("parity", "--out", bad, "--max-error-lsb", "60000", "--min-snr-db", "0",
               "--min-cosine", "-1").code == 0  # the gate is loosened; diff must still see it
    r = cli("diff", demo_build, bad)
    assert r.code == 1 and "WORSE" in r.out and "is WORSE than" in r.out, r
    r = cli("diff", demo_build, bad, "--json")
    rows = {row["metric"]: row for row in json.loads(r.out)["rows"]}
    assert rows["snr_db"]["worse"] and rows["snr_db"]["change"] < 0
    assert any(row["worse"] for name, row in rows.items() if name.startswith("layer "))


def test_diff_of_a_build_with_itself_is_clean(cli, demo_build: Path) -> None:
    r = cli("diff", demo_build, demo_build)
    assert r.code == 0 and "not worse than" in r.out, r


def test_diff_bad_input(cli, demo_build: Path, tmp_path: Path) -> None:
    r = cli("diff", demo_build, tmp_path / "nope")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r


def _moved(record: ParityRecord, factor: float) -> ParityRecord:
    """The record with the first output's mean error and MAE scaled by `factor` (worse > 1)."""
    first = record.first
    metrics = first.metrics.model_copy(
        update={"mean_abs_error": first.metrics.mean_abs_error * factor})
    task = first.task.model_copy(update={"quantized": first.task.quantized * factor})
    return record.model_copy(update={"outputs": [first.model_copy(
        update={"metrics": metrics, "task": task})]})


def test_moves_within_the_named_tolerances_are_not_regressions(cli, demo_build: Path,
                                                               tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(demo_build, new)
    record = ParityRecord.load(new)
    _moved(record, 1.01).save(new)  # 1 %: runner noise
    r = cli("diff", demo_build, new, "--json")
    assert r.code == 0, r
    _moved(record, 1.10).save(new)  # 10 %: a regression
    r = cli("diff", demo_build, new, "--json")
    rows = {row["metric"]: row for row in json.loads(r.out)["rows"]}
    assert r.code == 1 and rows["mean_abs_error"]["worse"] and rows["mae"]["worse"], rows
    assert all(row["why"] for row in rows.values())
