"""Registry of the kinds of place the runner runs in, chosen with `--on`: `local` (this
machine), `emulated-pi` / `emulated-pi5` (Raspberry Pi OS Bookworm's userland under QEMU user
mode) and `ssh://user@host[:port]` (a real device; the one kind whose spec is parsed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.device.places.base import Place, Session
from pipeline.device.places.emulated import BOARDS, EmulatedPi
from pipeline.device.places.ssh import SshDevice, parse_ssh_url
from pipeline.registry import Registry

LOCAL = "local"
SSH = "ssh://user@host[:port]"


@dataclass(frozen=True)
class PlaceKind:
    """One form `--on` takes."""

    form: str  # what the user writes; SSH stands for every ssh:// address
    summary: str
    make: Callable[..., Place]  # (spec, ssh_config=, remote_python=, connect_timeout=) -> Place


def _ssh(spec: str, *, ssh_config: str | None, remote_python: str,
         connect_timeout: float) -> Place:
    user, host, port = parse_ssh_url(spec)
    return SshDevice(user, host, port, ssh_config=ssh_config, python=remote_python,
                     connect_timeout=connect_timeout)


KINDS: Registry[PlaceKind] = Registry.of("place", (
    PlaceKind(LOCAL, "this machine", lambda spec, **_: Place()),
    *(PlaceKind(name, board, lambda spec, **_: EmulatedPi(spec)) for name, board in BOARDS.items()),
    PlaceKind(SSH, "a real device", _ssh),
), key=lambda kind: kind.form, message="--on {name!r}: use one of {choices}")
CHOICES = tuple(KINDS)


def get(spec: str, *, ssh_config: str | None = None, remote_python: str = "python3",
        connect_timeout: float = 10.0) -> Place:
    """The place `--on SPEC` names; anything else is a UserError listing the forms."""
    kind = KINDS.get(SSH if spec.startswith("ssh://") else spec)
    return kind.make(spec, ssh_config=ssh_config, remote_python=remote_python,
                     connect_timeout=connect_timeout)


def describe() -> str:
    """The forms `--on` takes, each with what it is (for the option's help)."""
    forms = [f"{kind.form} ({kind.summary})" for kind in KINDS.values()]
    return f"{', '.join(forms[:-1])} or {forms[-1]}"


__all__ = ["Place", "Session", "get", "describe", "LOCAL", "SSH", "CHOICES", "KINDS", "PlaceKind",
           "EmulatedPi", "SshDevice", "OnOptions"]


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
