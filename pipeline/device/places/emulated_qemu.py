"""The emulated Pi's emulator: QEMU 10's `qemu-aarch64` from Debian trixie's `qemu-user`
(statically linked, so it runs on a bookworm machine), fetched with private apt state and kept in
the emulated Pi's folder. Debian bookworm's `qemu-aarch64-static` (QEMU 7.2) is only the fallback
when trixie cannot be reached; ai-edge-litert 2.3's aarch64 build crashes under QEMU 7.2 when it
loads a model, so under the fallback LiteRT is refused, saying why."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.custody import sha256_file
from pipeline.device.places.private_apt import PrivateApt, run
from pipeline.errors import UserError
from pipeline.progress import Reporter

SUITE = "trixie"
PACKAGE = "qemu-user"
MEMBER = "usr/bin/qemu-aarch64"  # in the package; kept as FOLDER/qemu-aarch64
FOLDER = "qemu"  # in the emulated Pi's folder
FALLBACK = "qemu-aarch64-static"
LITERT_MIN_MAJOR = 10  # LiteRT 2.3 crashes under QEMU 7.2 and runs under 10.0
VERSION_TIMEOUT_S = 30


@dataclass(frozen=True)
class Emulator:
    """A qemu-aarch64 that runs here, its version and what it cannot run."""

    path: Path
    version: str
    origin: str  # where it came from, for parity.json and messages
    litert_refusal: str | None = None  # the one-line reason LiteRT cannot run under it
    sha256: str | None = None  # of a fetched binary; None for this machine's own (apt updates it)
    package_sha256: str | None = None  # of the .deb it was unpacked from (provenance)

    @property
    def litert(self) -> bool:
        """Whether ai-edge-litert can run under it."""
        return self.litert_refusal is None

    def intact(self) -> bool:
        """Whether the binary is still there (and, if fetched, unchanged)."""
        return self.path.is_file() and (self.sha256 is None
                                        or sha256_file(str(self.path)) == self.sha256)

    def record(self, base: Path) -> dict[str, Any]:
        """The manifest entry; a fetched binary is recorded relative to BASE, with its hash."""
        inside = self.path.is_relative_to(base)
        return {"path": str(self.path.relative_to(base) if inside else self.path),
                "version": self.version, "origin": self.origin,
                "litert_refusal": self.litert_refusal, "sha256": self.sha256,
                "package_sha256": self.package_sha256}

    @classmethod
    def from_record(cls, record: dict[str, Any], base: Path) -> Emulator:
        """The emulator a manifest entry names (a relative path is under BASE); KeyError or
        TypeError if the entry is malformed, ValueError if a fetched binary has no hash."""
        path = Path(record["path"])
        if not path.is_absolute() and not record.get("sha256"):
            raise ValueError("a fetched emulator without its sha256")
        return cls(base / path, str(record["version"]), str(record["origin"]),
                   record.get("litert_refusal"), record.get("sha256"),
                   record.get("package_sha256"))


def version_of(exe: Path) -> str:
    """`qemu-aarch64 --version`'s number; UserError if it does not run here."""
    out = run([str(exe), "--version"], f"{exe} --version")
    found = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
    if not found:
        raise UserError(f"{exe} --version printed no version: {out.strip()[:80]!r}")
    return found.group(1)


def _major(version: str) -> int:
    return int(version.split(".")[0])


def host_arch() -> str:
    """This machine's Debian architecture (amd64 on x86_64)."""
    return run(["dpkg", "--print-architecture"], "dpkg --print-architecture").strip()


def _extract(deb: Path, dest: Path) -> None:
    """Unpack the one binary from the .deb (`dpkg-deb --fsys-tarfile`, streamed: the whole
    package unpacks to about 450 MB of emulators for other machines)."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile() and member.name.removeprefix("./") == MEMBER:
                    source = tar.extractfile(member)
                    assert source is not None  # a regular file
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(source.read())
                    dest.chmod(0o755)
                    return
    except tarfile.TarError as exc:
        raise UserError(f"dpkg-deb --fsys-tarfile {deb.name}: {exc}") from None
    finally:
        proc.kill()
        proc.wait()
    raise UserError(f"{deb.name} holds no {MEMBER}")


def fetch(work: Path, reporter: Reporter) -> Emulator:
    """Debian trixie's qemu-user for this machine, its qemu-aarch64 kept as WORK/FOLDER/
    qemu-aarch64; UserError if trixie is out of reach or the binary is not QEMU 10 or later."""
    apt = PrivateApt(work / f"apt-{SUITE}", SUITE, host_arch())
    try:
        apt.update(reporter)
        reporter.info(f"  apt: downloading {PACKAGE} ({apt.label}) for its qemu-aarch64")
        deb = apt.download(PACKAGE, f"apt-get download {PACKAGE} ({apt.label})")
        exe = work / FOLDER / "qemu-aarch64"
        _extract(deb, exe)
        package_sha256 = sha256_file(str(deb))
    finally:
        shutil.rmtree(apt.work, ignore_errors=True)  # indexes and the .deb are not kept
    try:
        version = version_of(exe)  # statically linked: it must run on this machine as it is
        if _major(version) < LITERT_MIN_MAJOR:
            raise UserError(f"{deb.name} is QEMU {version}, not {LITERT_MIN_MAJOR} or later")
    except UserError:
        shutil.rmtree(exe.parent)  # not the emulator after all: keep nothing of it
        raise
    name, package_version = deb.name.split("_")[:2]
    origin = f"Debian {SUITE} {name} {package_version.replace('%3a', ':')}"
    return Emulator(exe, version, origin, sha256=sha256_file(str(exe)),
                    package_sha256=package_sha256)


def fallback(reason: str) -> Emulator:
    """This machine's qemu-aarch64-static, with LiteRT refused; UserError if it is missing."""
    exe = shutil.which(FALLBACK)
    if exe is None:
        raise UserError(f"--on emulated-pi needs QEMU: Debian {SUITE}'s {PACKAGE} could not be "
                        f"fetched ({reason}) and {FALLBACK} is not installed (Debian's "
                        "qemu-user-static; `make system-deps` installs it)")
    version = version_of(Path(exe))
    refusal = None
    if _major(version) < LITERT_MIN_MAJOR:
        refusal = (f"the emulated Pi runs under this machine's {FALLBACK} (QEMU {version}) "
                   f"because Debian {SUITE}'s {PACKAGE} could not be fetched ({reason}); "
                   f"ai-edge-litert 2.3's aarch64 build crashes under QEMU {version} when it "
                   f"loads a model: use --runtime tflite-runtime, or run `gelu-edge target setup "
                   f"emulated-pi --force` once {SUITE} is reachable (QEMU {LITERT_MIN_MAJOR}), "
                   "or a real device with --on ssh://")
    return Emulator(Path(exe), version, f"this machine's {FALLBACK}", refusal)


def provide(work: Path, reporter: Reporter) -> Emulator:
    """QEMU 10 from trixie if it can be had, else the fallback (saying why)."""
    try:
        return fetch(work, reporter)
    except UserError as exc:
        reason = str(exc)
    emulator = fallback(reason)
    reporter.warn(f"QEMU from Debian {SUITE} unavailable ({reason}): using {emulator.path} "
                  f"(QEMU {emulator.version})"
                  + ("; --runtime litert is refused under it" if not emulator.litert else ""))
    return emulator
