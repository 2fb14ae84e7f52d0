"""The emulated Pi's setup without QEMU: its wheels pinned by the lock's hashes, its folder, the
emulator's fallback and manifest entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import REPO

from pipeline.device.places import emulated_qemu, emulated_setup
from pipeline.errors import UserError


def test_the_aarch64_wheels_are_pinned_by_the_locks_hashes() -> None:
    """pip downloads them with --require-hashes; a new lock must bring new hashes here."""
    lock = (REPO / "requirements.lock").read_text()
    assert set(emulated_setup.WHEEL_HASHES) == set(emulated_setup.WHEELS)
    for pin, digest in emulated_setup.WHEEL_HASHES.items():
        # The lock entry: the pin's line and its --hash lines, for Python 3.11 (numpy < 2).
        entry = re.search(rf"^{re.escape(pin)} ;[^\n]*(?:\n    --hash=[^\n]*)+", lock, re.M)
        assert entry and f"--hash=sha256:{digest}" in entry.group(0), pin


def test_the_folder_can_be_moved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(emulated_setup.FOLDER_ENV, str(tmp_path / "pi"))
    assert emulated_setup.folder() == tmp_path / "pi"
    assert emulated_setup.verify() is None  # nothing there yet


def test_without_trixie_or_qemu_user_static_the_error_says_both(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulated_qemu.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="trixie's qemu-user could not be fetched "
                                        r"\(offline\) and qemu-aarch64-static is not installed"):
        emulated_qemu.fallback("offline")


def test_a_fetched_emulator_must_carry_its_hash(tmp_path: Path) -> None:
    record = {"path": "qemu/qemu-aarch64", "version": "10.0.13", "origin": "Debian trixie"}
    with pytest.raises(ValueError):
        emulated_qemu.Emulator.from_record(record, tmp_path)
    fallback = emulated_qemu.Emulator.from_record({**record, "path": "/usr/bin/q"}, tmp_path)
    assert fallback.path == Path("/usr/bin/q") and fallback.sha256 is None
