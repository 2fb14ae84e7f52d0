"""Shared options: an empty --out (an unset variable in a script) is refused, not taken as the
current folder."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_an_empty_out_is_refused_and_the_current_folder_untouched(
        cli, tiny_inputs: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "mine.txt").write_text("mine")
    (tmp_path / "manifest.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    model, data = tiny_inputs
    r = cli("build", "--model", model, "--data", data, "--out", "")
    assert r.code == 2 and "--out" in r.err and "is empty" in r.err, r
    assert len(r.err.strip().splitlines()) == 1, r
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == \
        ["manifest.json", "plots", "plots/mine.txt"]
    r = cli("report", "")
    assert r.code == 2 and "is empty" in r.err, r
