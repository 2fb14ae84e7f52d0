"""The system components some tests need, one per pytest marker, and what is missing here.

`network` tests download only while their cache is cold: they need the network then, and only
then (the emulated Pi's userland, the wheels of the install test)."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Kept between test runs (the emulated Pi's userland, the wheels of the install test).
TEST_CACHE = Path(os.environ.get("GELU_EDGE_TEST_CACHE")
                  or Path.home() / ".cache" / "gelu-edge-tests")

NETWORK_TIMEOUT_S = 5.0
INSTALL = "run `make system-deps` (as root, or with sudo)"


def unavailable(reason: str) -> NoReturn:
    """A test that cannot run here: skipped, saying why; in CI, where everything it needs is
    installed (and the runner is root), a failure instead."""
    import pytest

    if IN_CI:
        pytest.fail(f"{reason} (CI=true: nothing may skip)")
    pytest.skip(reason)


def _qemu() -> str | None:
    return None if shutil.which("qemu-aarch64-static") else f"qemu-user-static missing: {INSTALL}"


def _ssh() -> str | None:
    if os.path.exists("/usr/sbin/sshd") and shutil.which("ssh") and shutil.which("scp"):
        return None
    return f"openssh-server or openssh-client missing: {INSTALL}"


def _browser() -> str | None:
    return None if shutil.which("chromium") else f"chromium missing: {INSTALL}"


def _vela() -> str | None:
    if importlib.util.find_spec("ethosu") is not None:
        return None
    return "ethos-u-vela missing: pip install '.[vela]' (make install does)"


@functools.lru_cache(maxsize=1)
def _network() -> str | None:
    """Can this machine reach its apt archive (the first in its own apt configuration)?"""
    from pipeline.device.places import apt_sources

    try:
        uri = urlsplit(apt_sources.machine_sources()[0].uri)
    except Exception as exc:  # noqa: BLE001 - no apt configuration: say so as the reason
        return f"no network archive configured ({exc})"
    port = uri.port or (443 if uri.scheme == "https" else 80)
    try:
        socket.create_connection((uri.hostname, port), timeout=NETWORK_TIMEOUT_S).close()
    except OSError as exc:
        return f"network unreachable ({exc}) and the download cache is cold"
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "qemu": _qemu, "ssh": _ssh, "browser": _browser, "vela": _vela, "network": _network,
}


def missing(markers: Iterable[str], warm: Callable[[], bool] = lambda: False) -> str | None:
    """Why a test with these markers cannot run here, or None. A `network` test whose cache
    is `warm` needs no network."""
    for name in markers:
        check = CHECKS.get(name)
        if check is None or (name == "network" and warm()):
            continue
        reason = check()
        if reason:
            return reason
    return None
