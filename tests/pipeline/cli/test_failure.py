"""Errors no stage expected, and disk errors: one line each, never a bare traceback; the
traceback goes to OUT/error.log (exit 70), and a disk error names a path even when the library's
error has none."""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

import pytest
from tiny import build_args

from edge import exit_codes
from pipeline import artifacts, tempdirs
from pipeline.stages import parity as parity_stage
from pipeline.stages import report


def _copy(build: Path, tmp_path: Path) -> Path:
    out = tmp_path / "build"
    shutil.copytree(build, out)
    return out


def test_an_unexpected_error_is_one_line_and_its_traceback_is_kept(
        cli, tiny_build: Path, tiny_inputs: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = _copy(tiny_build, tmp_path)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in parity")

    monkeypatch.setattr(parity_stage, "run", crash)
    r = cli(*build_args(tiny_inputs, out))
    assert r.code == exit_codes.INTERNAL, r
    last = r.err.strip().splitlines()[-1]
    assert "Traceback" not in r.err
    assert last.startswith("gelu-edge: internal error in stage parity (model ")
    assert "RuntimeError: a bug in parity" in last and str(out / "error.log") in last
    log = (out / artifacts.ERROR_LOG).read_text()
    assert log.startswith("Traceback") and "RuntimeError: a bug in parity" in log
    # The earlier build's PASSED report went with stage 1's clean-up; nothing looks current.
    for name in (artifacts.PARITY_JSON, artifacts.PARITY_MD, artifacts.PARITY_HTML,
                 artifacts.MANIFEST, artifacts.PLOTS_DIR):
        assert not (out / name).exists(), name
    assert cli("verify", out).code == 0  # error.log is in the ledger


def test_a_disk_error_without_a_file_name_names_the_build_folder(
        cli, tiny_build: Path, tiny_inputs: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = _copy(tiny_build, tmp_path)
    left: list[str] = []

    def disk_full(*args: object, **kwargs: object) -> None:
        left.append(tempfile.mkdtemp())  # as Keras leaves a folder when a save fails
        raise OSError(errno.ENOSPC, "No space left on device")  # numpy's: no file name

    monkeypatch.setattr(report, "run", disk_full)
    r = cli(*build_args(tiny_inputs, out))
    assert r.code == 2 and len(r.err.strip().splitlines()[-1:]) == 1, r
    last = r.err.strip().splitlines()[-1]
    assert f"cannot write or read files in {out} in stage report" in last, r
    assert "No space left on device" in last and "as they were" not in last
    assert left and not Path(left[0]).exists()  # the run's own temporary folder went with it
    assert tempdirs.PREFIX in left[0]
