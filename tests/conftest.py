"""Shared fixtures: the CLI runner, tiny models and data, and one demo build for the whole
session."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import components  # noqa: E402
import wheelhouse  # noqa: E402
from components import IN_CI, TEST_CACHE  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.device.places import emulated_setup  # noqa: E402


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
def _test_cache() -> None:
    """The tests keep their own cache folder between runs, never the user's: the `--approx
    auto` measurements (re-measured when a variant's code or a runtime changes; the tests of
    that cache use fresh folders) and the emulated Pi (set up once per machine, verified by
    sha256 on every use), so a second test run downloads and measures nothing again."""
    os.environ["XDG_CACHE_HOME"] = str(TEST_CACHE / "xdg")
    os.environ.setdefault(emulated_setup.FOLDER_ENV, str(TEST_CACHE / "emulated-pi"))


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that needs the demo build is `slow`. Outside CI, a test whose system component is
    missing is skipped, saying what to install; in CI (CI=true, where .ci/run installs
    everything) it runs and fails instead."""
    for item in items:
        if "demo_build" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    if IN_CI:
        return
    for item in items:
        network = item.get_closest_marker("network")
        cache = network.kwargs.get("cache") if network else None
        reason = components.missing([m.name for m in item.iter_markers()],
                                    lambda cache=cache: cache is not None and _warm(cache))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@functools.cache
def _warm(cache: str) -> bool:
    """Whether a download cache the tests keep between runs is complete and intact."""
    if cache == "emulated-pi":
        return emulated_setup.verify(TEST_CACHE / "emulated-pi") is not None
    if cache == "wheels":
        return wheelhouse.ready(TEST_CACHE)
    raise ValueError(f"unknown test cache {cache!r}")


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`gelu-edge build --quantize int8` on the demo, once per session (exit code checked)."""
    out = tmp_path_factory.mktemp("demo") / "build"
    with pytest.raises(SystemExit) as exc:
        main(["build", "--quantize", "int8", "--out", str(out)])
    assert exc.value.code == 0, "demo build failed"
    return out


@pytest.fixture
def demo_copy(demo_build: Path, tmp_path: Path) -> Path:
    """A copy of the demo build (TMP/build) a test may change."""
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    return out


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """tests/tiny.py's model and data, saved once per session."""
    import tiny

    return tiny.save_inputs(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_build(tiny_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
               ) -> Path:
    """A passing build of the tiny model, once per session (a few seconds): copy it before
    changing it."""
    import tiny

    out = tmp_path_factory.mktemp("tiny-build") / "build"
    with pytest.raises(SystemExit) as exc:
        main(tiny.build_args(tiny_inputs, out))
    assert exc.value.code == 0, "tiny build failed"
    return out


@pytest.fixture(scope="session")
def coral_transformer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(model, data, build folder): the tiny transformer built for coral (a chain of Edge TPU
    and host segments) once per session, for the tests that only read the build; copy the
    folder to change it."""
    from helpers import tiny_transformer

    folder = tmp_path_factory.mktemp("coral")
    model, data = tiny_transformer(folder)
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in ("build", "--model", model, "--data", data, "--out",
                               folder / "b", "--target", "coral", "--min-snr-db", "0")])
    assert exc.value.code in (0, 1)
    return model, data, folder / "b"
