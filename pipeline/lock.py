"""One writer per build folder: a command that writes into OUT holds an exclusive lock on
OUT/.gelu-edge.lock (fcntl) for its whole run. A second one says which process holds it and
stops (exit 2), or waits for it with --wait. The lock goes with the process, however it ends."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import UserError

LOCK = ".gelu-edge.lock"
POLL_S = 0.5


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid else "another process"


@contextlib.contextmanager
def holding(out: Path, wait: bool = False, command: str = "gelu-edge") -> Iterator[None]:
    """Hold OUT's lock while the block runs."""
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise UserError(f"{out} is in use by {_holder(path)} (another gelu-edge "
                                    f"writing there); wait for it, or pass --wait, or use "
                                    "another --out") from None
                time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock
        if created and [p.name for p in out.iterdir()] == [LOCK]:
            # Bad input stopped the command before it wrote anything: leave no folder behind.
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()
