"""scripts/check-space.sh, which `make install` runs first: a disk without room for the
virtualenv stops the install with one line and exit 2, before pip starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "check-space.sh"
MORE_THAN_ANY_DISK_GIB = 10**9
NO_SPACE_GIB = 0


def _check(venv: Path, gib: int, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), str(venv), str(gib)], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp)})


def test_room_enough_passes_quietly(tmp_path: Path) -> None:
    done = _check(tmp_path / ".venv", NO_SPACE_GIB, tmp_path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_too_little_room_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _check(tmp_path / ".venv", MORE_THAN_ANY_DISK_GIB, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gelu-edge: the install needs about")
    assert str(tmp_path) in lines[0] and "Free some space" in lines[0]


def test_the_install_runs_it_first() -> None:
    recipe = (REPO / "Makefile").read_text(encoding="utf-8").split("$(STAMP):", 1)[1]
    first = recipe.splitlines()[1].strip()
    assert first.startswith("bash scripts/check-space.sh $(VENV)")
