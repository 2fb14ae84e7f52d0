"""Atomic writes: a failing step never leaves a file under its final name."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert artifacts.sha256_file(path) == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
