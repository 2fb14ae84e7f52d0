"""Shared fixtures: the CLI runner, tiny models and data, and one demo build for the whole session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from pipeline.cli import main  # noqa: E402


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-400:]!r}, err={self.err[-800:]!r})"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `gelu-edge ARGS` in-process through the real entry point; return code and output."""
    def run(*args: str) -> CliResult:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        cap = capsys.readouterr()
        return CliResult(int(exc.value.code or 0), cap.out, cap.err)
    return run


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """--approx auto measures into a cache of the test run's own, never the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`gelu-edge build --quantize int8` on the demo, once per session (exit code checked)."""
    out = tmp_path_factory.mktemp("demo") / "build"
    with pytest.raises(SystemExit) as exc:
        main(["build", "--quantize", "int8", "--out", str(out)])
    assert exc.value.code == 0, "demo build failed"
    return out
