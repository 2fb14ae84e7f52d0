"""What a run can refuse up front it refuses before stage 1, and the build folder stays exactly
as it was: every file byte-identical, `verify` passing."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from tiny import build_args, snapshot

from pipeline import preflight
from pipeline.errors import UserError
from pipeline.lock import LOCK


def _copy(build: Path, tmp_path: Path) -> Path:
    out = tmp_path / "build"
    shutil.copytree(build, out)
    return out


def _a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("")  # a folder inside a file cannot be made, by root either
    return path


REFUSED = {
    "delegate": (lambda tmp: ["--delegate", "/nonexistent/libdelegate.so"],
                 "--delegate /nonexistent/libdelegate.so: no such file"),
    "unreachable": (lambda tmp: ["--on", "ssh://nobody@127.0.0.1:1"],
                    "cannot reach 127.0.0.1 port 1"),
    "junit": (lambda tmp: ["--junit", _a_file(tmp) / "junit.xml"], "--junit"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_run_leaves_the_earlier_build_as_it_was(cli, tiny_build: Path,
                                                          tiny_inputs: tuple[Path, Path],
                                                          tmp_path: Path, case: str) -> None:
    out = _copy(tiny_build, tmp_path)
    before = snapshot(out)
    (out / LOCK).write_text("4242\n")  # the last writer's pid: another process's
    extra, message = REFUSED[case]
    r = cli(*build_args(tiny_inputs, out), *extra(tmp_path))
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r
    assert "[1/5]" not in r.err  # refused before any stage
    assert snapshot(out) == before
    assert (out / LOCK).read_text() == "4242\n"  # refused before the folder's lock was taken
    assert cli("verify", out).code == 0


def test_a_missing_or_unwritable_temp_folder_is_refused_first(
        cli, tiny_build: Path, tiny_inputs: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = _copy(tiny_build, tmp_path)
    before = snapshot(out)
    monkeypatch.setenv("TMPDIR", str(_a_file(tmp_path)))
    r = cli(*build_args(tiny_inputs, out))
    assert r.code == 2 and "(TMPDIR) does not exist: set TMPDIR" in r.err, r
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage",
                        lambda path: Usage(1 << 20, 3 << 18, 1 << 18))  # a 1 MiB tmpfs
    r = cli(*build_args(tiny_inputs, out))
    assert r.code == 2 and "(TMPDIR) has 256 KiB free" in r.err, r
    assert snapshot(out) == before


def test_an_out_folder_that_cannot_be_made_is_refused(cli, tiny_inputs: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    r = cli(*build_args(tiny_inputs, _a_file(tmp_path) / "build"))
    assert r.code == 2 and "is a file, not a folder" in r.err, r


def test_the_delegate_is_loaded_as_the_runner_would() -> None:
    preflight.delegate("libc.so.6")  # on the loader's path: found by name
    with pytest.raises(UserError, match="--delegate libno-such-delegate.so.1: cannot load it"):
        preflight.delegate("libno-such-delegate.so.1")


def test_a_folder_holding_files_gelu_edge_did_not_write_is_refused_first(
        cli, tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "proj"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "mine.txt").write_text("mine")
    (out / "manifest.json").write_text("mine")
    r = cli(*build_args(tiny_inputs, out))
    assert r.code == 2 and "manifest.json is not in" in r.err and "[1/5]" not in r.err, r
    assert snapshot(out) == {"manifest.json": b"mine", "plots/mine.txt": b"mine"}
