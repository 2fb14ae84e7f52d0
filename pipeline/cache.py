"""The user's cache folder for gelu-edge: $XDG_CACHE_HOME/gelu-edge, default ~/.cache/gelu-edge."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user's cache folder for gelu-edge (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gelu-edge"
