"""apt with private state folders: Debian packages of another suite or architecture, downloaded
without touching this machine's apt state (its lists, cache, status file and locks). The archives
are this machine's own (`apt_sources`); apt verifies the packages against their signed indexes."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.device.places import apt_sources
from pipeline.errors import UserError
from pipeline.progress import Reporter

STEP_TIMEOUT_S = 900


def run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run one setup step; its stdout, or UserError with the last line it printed."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S,
                              cwd=cwd)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within {STEP_TIMEOUT_S} s") from None
    except OSError as exc:
        raise UserError(f"{what} failed: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"{what} failed: {detail}")
    return proc.stdout


@dataclass(frozen=True)
class PrivateApt:
    """apt pointed at SUITE for ARCH, with all its state under WORK."""

    work: Path
    suite: str
    arch: str

    @property
    def label(self) -> str:
        return f"{self.suite} {self.arch}"

    @property
    def archives(self) -> Path:
        """Where downloaded .debs land."""
        return self.work / "cache/archives"

    def options(self) -> list[str]:
        """apt-get options that keep every path private and fetch ARCH only."""
        work = self.work
        return [
            "-o", f"Dir::State={work / 'state'}",
            "-o", f"Dir::State::status={work / 'state/status'}",
            "-o", f"Dir::Cache={work / 'cache'}",
            "-o", f"Dir::Etc::SourceList={os.devnull}",
            "-o", f"Dir::Etc::SourceParts={work / 'sources.list.d'}",
            "-o", f"Dir::Etc::Parts={work / 'apt.conf.d'}",
            "-o", f"Dir::Etc::Preferences={os.devnull}",
            "-o", f"Dir::Etc::PreferencesParts={work / 'preferences.d'}",
            "-o", f"APT::Architecture={self.arch}", "-o", f"APT::Architectures::={self.arch}",
            "-o", "Debug::NoLocking=1", "-o", "APT::Install-Recommends=false",
        ]

    def update(self, reporter: Reporter) -> None:
        """Write the private sources (this machine's archives, suite and architecture changed)
        and fetch their indexes."""
        for sub in ("state/lists/partial", "cache/archives/partial", "sources.list.d",
                    "apt.conf.d", "preferences.d"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        (self.work / "state/status").touch()
        sources = apt_sources.machine_sources(suite=self.suite, arch=self.arch)
        (self.work / f"sources.list.d/{self.suite}-{self.arch}.sources").write_text(
            "\n".join(s.deb822() for s in sources))
        reporter.info(f"  apt: {self.label} indexes from {len(sources)} archive(s) of this "
                      "machine's apt configuration")
        run(["apt-get", *self.options(), "-qq", "update"], f"apt-get update ({self.label})")

    def download_with_dependencies(self, packages: tuple[str, ...], what: str) -> list[Path]:
        """PACKAGES and their dependency closure (nothing counts as installed), as .debs."""
        run(["apt-get", *self.options(), "-y", "-qq", "--download-only", "install", *packages],
            what)
        return sorted(self.archives.glob("*.deb"))

    def download(self, package: str, what: str) -> Path:
        """One package alone (no dependencies), as a .deb."""
        self.archives.mkdir(parents=True, exist_ok=True)
        run(["apt-get", *self.options(), "-qq", "download", package], what, cwd=self.archives)
        debs = sorted(self.archives.glob(f"{package}_*.deb"))
        if not debs:
            raise UserError(f"{what} failed: apt-get left no {package} .deb")
        return debs[-1]
