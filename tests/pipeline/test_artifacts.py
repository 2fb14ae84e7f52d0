"""Atomic writes: a failing step never leaves a file under its final name."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from edge import custody
from pipeline import artifacts


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "model.tflite"
    artifacts.write_bytes(final, b"old")
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(final) as tmp:
            tmp.write_bytes(b"half-")
            raise RuntimeError("interrupted")
    assert final.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custody.json", "model.tflite"]


def test_the_ledger_holds_each_artifacts_hash_and_reads_check_it(tmp_path: Path) -> None:
    from pipeline.errors import UserError

    final = tmp_path / "model.tflite"
    artifacts.write_bytes(final, b"model")
    assert artifacts.require(tmp_path, "model.tflite", "convert") == final
    final.write_bytes(b"other")
    with pytest.raises(UserError, match="changed or damaged since convert wrote it"):
        artifacts.require(tmp_path, "model.tflite", "convert")
    artifacts.clear_from(tmp_path, "convert")
    assert not final.exists() and "model.tflite" not in artifacts.read_json(
        tmp_path / "custody.json")["files"]


def test_atomic_write_interrupted_first_write_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "parity.json"
    with pytest.raises(KeyboardInterrupt):
        with artifacts.atomic_path(final) as tmp:
            tmp.write_text("{")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_json_and_hash_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    artifacts.write_json(path, {"x": 1})
    assert artifacts.read_json(path) == {"x": 1}
    import hashlib

    assert artifacts.sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_clearing_removes_nothing_the_ledger_does_not_list(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "mine.txt").write_text("mine")
    (tmp_path / "manifest.json").write_text("{}")
    artifacts.clear_from(tmp_path, "train")  # no ledger: not a build folder of ours
    assert (tmp_path / "plots" / "mine.txt").read_text() == "mine"
    assert (tmp_path / "manifest.json").read_text() == "{}"

    artifacts.write_bytes(tmp_path / "plots" / "curve.png", b"png")
    artifacts.write_text(tmp_path / "parity.md", "report")
    artifacts.clear_from(tmp_path, "report")
    assert not (tmp_path / "plots" / "curve.png").exists()
    assert not (tmp_path / "parity.md").exists()
    assert (tmp_path / "plots" / "mine.txt").read_text() == "mine"  # and so plots/ stays
    assert (tmp_path / "manifest.json").read_text() == "{}"
    assert not list(tmp_path.rglob(f"{artifacts.TMP_PREFIX}*"))


def _earlier_build(folder: Path) -> dict[str, bytes]:
    for name, data in (("model_float.keras", b"float"), ("model.tflite", b"int8"),
                       ("parity.json", b"{}"), ("parity.md", b"PASSED"),
                       ("plots/curve.png", b"png")):
        artifacts.write_bytes(folder / name, data)
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _refuse_renaming(monkeypatch: pytest.MonkeyPatch, refused: str, back_too: bool = False
                     ) -> None:
    """os.rename fails for `refused` (as for a file root cannot remove either: an immutable
    file, a read-only mount), and, with back_too, for putting any moved file back."""
    real = os.rename

    def rename(src: object, dst: object) -> None:
        if Path(src).name == refused or (back_too and artifacts.TMP_PREFIX in Path(src).name):
            raise PermissionError(13, "Operation not permitted", str(src))
        real(src, dst)
    monkeypatch.setattr(os, "rename", rename)


def test_clearing_that_cannot_remove_a_file_leaves_the_earlier_build_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.errors import UserError

    before = _earlier_build(tmp_path)
    _refuse_renaming(monkeypatch, "curve.png")
    with pytest.raises(UserError, match="nothing was removed: the earlier build .* as it was"):
        artifacts.clear_from(tmp_path, "convert")
    after = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*")
             if p.is_file()}
    assert after == before
    assert custody.problems(str(tmp_path)) == []


def test_clearing_that_half_fails_says_so(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.errors import UserError

    _earlier_build(tmp_path)
    _refuse_renaming(monkeypatch, "curve.png", back_too=True)
    with pytest.raises(UserError, match="half failed: .* could not be put back") as exc:
        artifacts.clear_from(tmp_path, "convert")
    assert "as it was" not in str(exc.value)


def test_an_error_log_is_in_the_ledger_and_goes_with_the_next_run(tmp_path: Path) -> None:
    artifacts.write_bytes(tmp_path / "model.tflite", b"int8")
    log = artifacts.write_error_log(tmp_path, "Traceback ...")
    assert log == tmp_path / artifacts.ERROR_LOG and custody.problems(str(tmp_path)) == []
    artifacts.clear_from(tmp_path, "report")  # any stage's clean-up
    assert not log.exists() and custody.problems(str(tmp_path)) == []
    assert (tmp_path / "model.tflite").exists()


def test_a_file_the_ledger_does_not_list_is_never_replaced(tmp_path: Path) -> None:
    from pipeline.errors import UserError

    (tmp_path / "manifest.json").write_text("mine")
    with pytest.raises(UserError, match="manifest.json is not in .*custody.json: gelu-edge did "
                       "not write it"):
        artifacts.write_text(tmp_path / "manifest.json", "{}")
    assert (tmp_path / "manifest.json").read_text() == "mine"
    assert not list(tmp_path.glob(f"{artifacts.TMP_PREFIX}*"))


def test_a_disk_error_without_a_file_name_is_given_the_artifacts(tmp_path: Path) -> None:
    final = tmp_path / "parity_samples.npz"
    with pytest.raises(OSError) as exc:
        with artifacts.atomic_path(final):
            raise OSError(errno.ENOSPC, "No space left on device")  # as numpy's: no file name
    assert exc.value.filename == str(final) and exc.value.errno == errno.ENOSPC


def test_a_users_error_log_is_not_replaced(tmp_path: Path) -> None:
    from pipeline.errors import UserError

    (tmp_path / artifacts.ERROR_LOG).write_text("mine")
    with pytest.raises(UserError, match="did not write it"):
        artifacts.write_error_log(tmp_path, "Traceback ...")
    assert (tmp_path / artifacts.ERROR_LOG).read_text() == "mine"
