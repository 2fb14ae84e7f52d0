"""SIGINT and SIGTERM as a KeyboardInterrupt, so every context manager unwinds (temporary files
and folders go), except inside `held()` sections: there the signal is noted and raised when
the section ends. A section holds what must not stop halfway, such as pointing the process's
stdout/stderr descriptors elsewhere and back (tfenv.captured_native_output). Interrupted
between those steps, fd 2 would stay on a deleted file and the user would never see the
"interrupted" line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

SIGNALLED: list[int] = []  # the signals received while the command ran
_held = [0]  # how deep in held sections the process is
_pending = [False]  # a signal came while held


def reset() -> None:
    """A command starts: no signal seen, nothing held."""
    SIGNALLED.clear()
    _held[0], _pending[0] = 0, False


def handler(signum: int, frame: object) -> None:
    """The signal handler main() installs."""
    SIGNALLED.append(signum)
    if _held[0]:
        _pending[0] = True
        return
    raise KeyboardInterrupt


@contextmanager
def held() -> Iterator[None]:
    """Run the block whole: a signal meanwhile interrupts when it ends."""
    _held[0] += 1
    try:
        yield
    finally:
        _held[0] -= 1
        if not _held[0] and _pending[0]:
            _pending[0] = False
            raise KeyboardInterrupt
