"""The data gelu-edge ships: the demo regression set and the 8x8 digits, with the scripts that
made them (README.md says how). Installed with the package; `folder()` finds the files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def folder() -> Path:
    """The folder holding the shipped data files, wherever the package is installed."""
    return Path(str(resources.files(__name__)))
