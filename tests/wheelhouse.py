"""The wheels a plain `pip install .` needs, at the versions of requirements.lock, downloaded
once per machine into the tests' persistent cache and checked against the lock's sha256 hashes,
so that installing into a fresh environment needs no network again."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
DOWNLOAD_TIMEOUT_S = 1800
COMPLETE = ".complete"
BUILD_BACKEND = ("setuptools", "wheel")  # what `pip install .` builds with, offline
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*==[^\s;\\]+)\s*(;[^\\]*)?")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def folder(cache: Path) -> Path:
    """The wheelhouse of this lock's pins (new pins or hashes get a new folder; comments do not)."""
    pins = sorted(m.group(0) for m in map(_PIN.match, LOCK.read_text().splitlines()) if m)
    digest = hashlib.sha256("\n".join(pins + sorted(_HASH.findall(LOCK.read_text()))).encode())
    digest = digest.hexdigest()[:16]
    return cache / f"wheels-{digest}"


def ready(cache: Path) -> bool:
    """The wheelhouse is complete (written last, after every download was checked)."""
    return (folder(cache) / COMPLETE).is_file()


def constraints(dest: Path) -> Path:
    """The lock's pins without hashes, as a pip constraints file."""
    lines = [m.group(1) + (f" {m.group(2).strip()}" if m.group(2) else "")
             for m in map(_PIN.match, LOCK.read_text().splitlines()) if m]
    path = dest / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _pins(names: tuple[str, ...]) -> list[str]:
    text = LOCK.read_text()
    return [re.search(rf"^({name}==[^\s;\\]+)", text, re.M).group(1) for name in names]


def fill(cache: Path) -> Path:
    """Download what `pip install .` resolves to under the lock's pins; every file's sha256
    must be one the lock lists."""
    dest = folder(cache)
    if ready(cache):
        return dest
    partial = dest.with_name(dest.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "-d", str(partial),
                    "-c", str(constraints(partial)), str(REPO), *_pins(BUILD_BACKEND)],
                   check=True, timeout=DOWNLOAD_TIMEOUT_S)
    known = set(_HASH.findall(LOCK.read_text()))
    for wheel in partial.iterdir():
        if wheel.suffix in (".whl", ".gz", ".zip") and not wheel.name.startswith("gelu_edge"):
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            if digest not in known:
                raise AssertionError(f"{wheel.name}: sha256 {digest} is not in {LOCK.name}")
    for own in partial.glob("gelu_edge*"):
        own.unlink()  # the project itself is installed from the clone
    (partial / COMPLETE).touch()
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(partial, dest)
    return dest
