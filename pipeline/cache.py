"""The user's cache folder for gelu-edge: $XDG_CACHE_HOME/gelu-edge, default ~/.cache/gelu-edge."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.tempdirs import can_write_in


def cache_dir() -> Path:
    """The user's cache folder for gelu-edge (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gelu-edge"


def unwritable() -> str | None:
    """None when the cache folder can be written (it is created if need be), else why not."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    return can_write_in(folder)
