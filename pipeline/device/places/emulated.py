"""`--on emulated-pi` (Raspberry Pi 4, Cortex-A72) and `--on emulated-pi5` (Pi 5, Cortex-A76):
the project's own `edge/` runner, unchanged, under QEMU user mode in Raspberry Pi OS Bookworm's
userland (set up on demand by `emulated_setup`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge import exit_codes
from edge.runtimes import ALLOW_ENV, RUNTIMES, litert
from pipeline.device.places import emulated_setup
from pipeline.device.places.base import REPO_ROOT, Place, Session
from pipeline.progress import Reporter
from pipeline.tempdirs import temporary_directory

CPUS = {"emulated-pi": "cortex-a72", "emulated-pi5": "cortex-a76"}
BOARDS = {"emulated-pi": "Pi 4, Cortex-A72 under QEMU",
          "emulated-pi5": "Pi 5, Cortex-A76 under QEMU"}


class EmulatedSession(Session):
    """Runs `python -m edge` with qemu-aarch64 -L ROOTFS; host paths stay visible. Under an
    emulator that cannot run LiteRT (the QEMU 7.2 fallback) the runner is told LiteRT is off
    ($GELU_EDGE_RUNTIMES), so `--runtime litert` fails at once and is explained."""

    where = "emulated"

    def __init__(self, scratch: Path, root: emulated_setup.Root, cpu: str) -> None:
        super().__init__(scratch)
        self.root, self.cpu = root, cpu

    def command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1",
               "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": f"{self.root.site}:{REPO_ROOT}"}
        if not self.root.emulator.litert:
            env[ALLOW_ENV] = ",".join(name for name in RUNTIMES if name != litert.NAME)
        return [str(self.root.emulator.path), "-cpu", self.cpu, "-L", str(self.root.path),
                str(self.root.python), "-m", "edge", *args], env

    def describe(self) -> dict[str, Any]:
        emulator = self.root.emulator
        return {"where": self.where, "cpu": self.cpu,
                "emulator": f"qemu-aarch64 {emulator.version} ({emulator.origin})"}

    def explain_failure(self, returncode: int, stderr: str) -> str | None:
        refusal = self.root.emulator.litert_refusal
        if refusal and returncode == exit_codes.RUNNER_MISSING and f"'{litert.NAME}'" in stderr:
            return refusal
        return None


class EmulatedPi(Place):
    """A Raspberry Pi emulated on this machine."""

    def __init__(self, name: str) -> None:
        self.name, self.cpu = name, CPUS[name]

    @contextlib.contextmanager
    def session(self, reporter: Reporter) -> Iterator[Session]:
        root = emulated_setup.setup(reporter)
        with temporary_directory("emulated") as tmp:
            yield EmulatedSession(Path(tmp), root, self.cpu)
