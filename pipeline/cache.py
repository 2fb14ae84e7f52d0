"""The user's cache folder for gelu-edge: $XDG_CACHE_HOME/gelu-edge, default ~/.cache/gelu-edge."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """The user's cache folder for gelu-edge (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gelu-edge"


def unwritable() -> str | None:
    """None when the cache folder can be written (it is created if need be), else why not."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".probe-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None
