"""Registry of places the runner runs in, chosen with `--on`: `local` (this machine),
`emulated-pi` / `emulated-pi5` (Raspberry Pi OS Bookworm's userland under QEMU user mode) and
`ssh://user@host[:port]` (a real device)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import UserError
from pipeline.device.places.base import Place, Session
from pipeline.device.places.emulated import CPUS, EmulatedPi
from pipeline.device.places.ssh import SshDevice, parse_ssh_url

LOCAL = "local"
CHOICES = (LOCAL, *CPUS, "ssh://user@host[:port]")


def get(spec: str, *, ssh_config: str | None = None, remote_python: str = "python3",
        connect_timeout: float = 10.0) -> Place:
    """The place `--on SPEC` names; anything else is a UserError listing the forms."""
    if spec == LOCAL:
        return Place()
    if spec in CPUS:
        return EmulatedPi(spec)
    if spec.startswith("ssh://"):
        user, host, port = parse_ssh_url(spec)
        return SshDevice(user, host, port, ssh_config=ssh_config, python=remote_python,
                         connect_timeout=connect_timeout)
    raise UserError(f"--on {spec!r}: use one of {', '.join(CHOICES)}")


__all__ = ["Place", "Session", "get", "LOCAL", "CHOICES", "EmulatedPi", "SshDevice", "OnOptions"]


DEFAULT_RUN_TIMEOUT_S = 600.0
DEFAULT_DEVICE_BUDGET_S = 300.0  # pipeline/device/budget.py says why


@dataclass(frozen=True)
class OnOptions:
    """Where parity runs (`--on` and the options that go with it)."""

    on: str = LOCAL
    delegate: str | None = None
    ssh_config: str | None = None
    remote_python: str = "python3"
    run_timeout: float = DEFAULT_RUN_TIMEOUT_S
    compare_samples: int | None = None  # None: as many as --device-budget affords
    device_budget_s: float = DEFAULT_DEVICE_BUDGET_S

    def place(self) -> Place:
        """The Place these options name (UserError when `on` is malformed)."""
        return get(self.on, ssh_config=self.ssh_config, remote_python=self.remote_python)
