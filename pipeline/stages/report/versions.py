"""What the figures were measured with: the installed version of every package that touches
the numbers, and the lock they were installed from (its sha256, and any package that differs
from it)."""

from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from pipeline import artifacts

# Packages whose version can change a figure in the report.
NUMERIC = ("tensorflow", "keras", "numpy", "ml-dtypes", "tflite-runtime", "ai-edge-litert",
           "keras-hub", "ethos-u-vela", "flatbuffers", "gelu-edge")
LOCK = Path(__file__).resolve().parents[3] / "requirements.lock"  # in a clone of the project
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$")


def installed(dist: str) -> str | None:
    """A distribution's installed version, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def pins(lock: Path) -> dict[str, str]:
    """{package: version} of the lock's entries whose markers hold here."""
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match and (not match.group(3) or Marker(match.group(3)).evaluate()):
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def lock_status(lock: Path = LOCK) -> dict[str, Any] | None:
    """sha256 of the lock and the locked packages whose installed version differs (None when
    gelu-edge was not installed from a clone that has the lock)."""
    if not lock.is_file():
        return None
    differ = {name: {"locked": version, "installed": installed(name)}
              for name, version in pins(lock).items() if installed(name) != version}
    return {"file": lock.name, "sha256": artifacts.sha256_file(lock), "differs": differ}


def describe() -> dict[str, Any]:
    """Python, machine and the numeric packages' versions (None where not installed)."""
    return {"python": platform.python_version(), "machine": platform.machine(),
            **{name: installed(name) for name in NUMERIC}}
