"""Temporary folders in the system's temp dir, named after the process that made them, so that
they go on every exit path: a context manager removes its folder on return, on an exception and
on SIGINT/SIGTERM (which the CLI turns into an exception); what a SIGKILL leaves is swept by the
next run, once the process that made it is gone."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PREFIX = "gelu-edge-"
_OWNED = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")


def temporary_directory(kind: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for `kind` of work, owned by this process."""
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-{kind}-")


@contextlib.contextmanager
def private() -> Iterator[Path]:
    """Make a temporary folder of this process's own the temporary folder (tempfile's and
    $TMPDIR, which TensorFlow, Keras and LLVM read) while the block runs: whatever they leave
    behind, after an error too, goes with it."""
    saved_env, saved = os.environ.get("TMPDIR"), tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-tmp-",
                                     ignore_cleanup_errors=True) as tmp:
        os.environ["TMPDIR"], tempfile.tempdir = tmp, tmp
        try:
            yield Path(tmp)
        finally:
            tempfile.tempdir = saved
            if saved_env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved_env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Remove the temporary folders of gelu-edge processes that no longer run; return them."""
    root = Path(root or tempfile.gettempdir())
    gone = []
    for path in root.glob(f"{PREFIX}*"):
        match = _OWNED.match(path.name)
        if match and path.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


def can_write_in(folder: Path, prefix: str = ".gelu-edge-probe-") -> str | None:
    """None if a file can be created in `folder` (tried, not guessed: permission bits do not
    stop root, a read-only mount does), else why not."""
    try:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None
