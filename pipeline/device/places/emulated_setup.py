"""`gelu-edge target setup emulated-pi`: Raspberry Pi OS Bookworm's userland for QEMU user mode.

Debian bookworm arm64 Python 3.11 and the libraries it needs come from Debian's packages,
downloaded with apt into private state folders (`private_apt`: the host's apt state is untouched;
sources from the machine's own apt configuration) and unpacked with `dpkg-deb -x`, not installed.
The aarch64 wheels of tflite-runtime 2.14, ai-edge-litert 2.3 and numpy 1.26 (both runtimes
work with it), pinned by sha256 (the hashes of requirements.lock), are unzipped beside them. The
emulator is QEMU 10 from Debian trixie (`emulated_qemu`; QEMU 7.2, which cannot run LiteRT, only
as a fallback). Everything lives in the user's cache folder (or $GELU_EDGE_EMULATED_PI), with a
manifest of sha256 hashes: the setup reruns only when a file is missing or damaged. Debian's
packages are verified by apt against the archive's signed indexes; their hashes are recorded in
the manifest, not pinned, as Debian's point releases replace them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.cache import cache_dir
from pipeline.device.places import apt_sources, emulated_qemu
from pipeline.device.places.emulated_qemu import Emulator
from pipeline.device.places.private_apt import PrivateApt, run
from pipeline.errors import UserError
from pipeline.progress import Reporter

PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6")
# What a Pi user installs. numpy 1.x: tflite-runtime 2.14 needs it, and LiteRT 2.3 runs with it
# too, so one site folder holds both runtimes.
WHEELS = ("tflite-runtime==2.14.0", "ai-edge-litert==2.3.0", "numpy==1.26.4")
# sha256 of their cp311 manylinux aarch64 wheels, as in requirements.lock (a test keeps them equal)
WHEEL_HASHES = {
    "tflite-runtime==2.14.0": "ce9fa5d770a9725c746dcbf6f59f3178233b3759f09982e8b2db8d2234c333b0",
    "ai-edge-litert==2.3.0": "853fc608f96da87bd5f3458465dfb9abbf18d5ae6b94eceacead407146f175ae",
    "numpy==1.26.4": "7ab55401287bfec946ced39700c053796e7cc0e3acbef09993a9ad2adba6ca6e",
}
FOLDER_ENV = "GELU_EDGE_EMULATED_PI"
# LiteRT's aarch64 wheel is tagged manylinux_2_27 (Bookworm has glibc 2.36).
PIP_PLATFORMS = ("manylinux_2_34_aarch64", "manylinux_2_27_aarch64", "manylinux2014_aarch64",
                 "manylinux_2_17_aarch64")
PYTHON = "usr/bin/python3.11"
SITE = "opt/gelu-edge/site"
MANIFEST = "manifest.json"
FORMAT = 2  # 2: the emulator (QEMU 10 from trixie) and LiteRT


@dataclass(frozen=True)
class Root:
    """A verified emulated userland and the emulator that runs it."""

    path: Path
    emulator: Emulator

    @property
    def python(self) -> Path:
        """The aarch64 Python inside it."""
        return self.path / PYTHON

    @property
    def site(self) -> Path:
        """Where the runtime and numpy wheels are unpacked."""
        return self.path / SITE


def folder() -> Path:
    """Where the emulated Pi lives: $GELU_EDGE_EMULATED_PI, else the cache folder."""
    override = os.environ.get(FOLDER_ENV)
    return Path(override) if override else cache_dir() / "emulated-pi"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def verify(base: Path | None = None) -> Root | None:
    """The cached userland if its manifest matches every file's hash, else None."""
    base = base or folder()
    manifest = base / MANIFEST
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("format") != FORMAT or recorded.get("packages") != list(PACKAGES) \
            or recorded.get("wheels") != list(WHEELS):
        return None
    try:
        emulator = Emulator.from_record(recorded["emulator"], base)
    except (KeyError, TypeError, ValueError):
        return None
    if not emulator.intact():
        return None
    root = base / "rootfs"
    for rel, digest in recorded.get("files", {}).items():
        path = root / rel
        if not path.is_file() or _sha256(path) != digest:
            return None
    return Root(root, emulator)


def _download_debs(work: Path, reporter: Reporter) -> list[Path]:
    apt = PrivateApt(work / "apt", apt_sources.TARGET_SUITE, apt_sources.TARGET_ARCH)
    apt.update(reporter)
    reporter.info(f"  apt: downloading {', '.join(PACKAGES)} and what they depend on")
    return apt.download_with_dependencies(PACKAGES, "apt-get download of the emulated Pi's "
                                          "Python")


def _download_wheels(work: Path, reporter: Reporter) -> list[Path]:
    dest = work / "wheels"
    reporter.info(f"  pip: downloading aarch64 wheels of {', '.join(WHEELS)} (sha256 pinned)")
    requirements = work / "wheels.txt"
    requirements.write_text("".join(f"{w} --hash=sha256:{WHEEL_HASHES[w]}\n" for w in WHEELS))
    platforms = [arg for p in PIP_PLATFORMS for arg in ("--platform", p)]
    run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), *platforms,
          "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
          "--only-binary=:all:", "--no-deps", "--require-hashes", "-r", str(requirements)],
         "pip download of the aarch64 wheels")
    return sorted(dest.glob("*.whl"))


def _smoke(root: Root) -> None:
    """Start the emulated Python and import both runtimes (LiteRT's import works under QEMU 7.2
    too; it crashes only when it loads a model)."""
    imports = "import numpy, tflite_runtime.interpreter, ai_edge_litert.interpreter, platform"
    cmd = [str(root.emulator.path), "-cpu", "cortex-a72", "-L", str(root.path), str(root.python),
           "-c", f"{imports}; print(platform.machine())"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root.site), "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if proc.returncode != 0 or proc.stdout.strip() != "aarch64":
        detail = (proc.stderr.strip() or "no output").splitlines()[-1]
        raise UserError(f"the emulated Pi's Python does not start: {detail}")


def setup(reporter: Reporter, force: bool = False) -> Root:
    """Build (or verify) the emulated userland in the cache; return it. Two processes setting
    it up at once take turns (the second finds it ready)."""
    base = folder()
    if not force and (root := verify(base)) is not None:
        return root
    base.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(base.with_name(base.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not force and (root := verify(base)) is not None:
            return root
        return _build(base, reporter)
    finally:
        os.close(fd)


def _build(base: Path, reporter: Reporter) -> Root:
    reporter.info(f"setting up the emulated Raspberry Pi in {base} (once)")
    work = base.with_name(base.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    emulator = emulated_qemu.provide(work, reporter)
    debs = _download_debs(work, reporter)
    wheels = _download_wheels(work, reporter)
    rootfs = work / "rootfs"
    with reporter.task("unpacking", len(debs) + len(wheels)) as advance:
        for deb in debs:
            run(["dpkg-deb", "-x", str(deb), str(rootfs)], f"dpkg-deb -x {deb.name}")
            advance(1)
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(rootfs / SITE)
            advance(1)
    _smoke(Root(rootfs, emulator))
    record = emulator.record(work)
    manifest = {"format": FORMAT, "packages": list(PACKAGES), "wheels": list(WHEELS),
                "wheel_sha256": WHEEL_HASHES, "emulator": record,
                "downloads": {p.name: _sha256(p) for p in [*debs, *wheels]},
                "files": _tree_hashes(rootfs)}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(work / "apt")  # indexes and .debs are not needed once unpacked
    shutil.rmtree(work / "wheels")
    (work / "wheels.txt").unlink()
    shutil.rmtree(base, ignore_errors=True)
    os.replace(work, base)
    reporter.info(f"emulated Raspberry Pi ready: {len(debs)} Debian packages, "
                  f"{len(wheels)} wheels, {len(manifest['files'])} files verified by sha256; "
                  f"QEMU {emulator.version} ({emulator.origin})")
    return Root(base / "rootfs", Emulator.from_record(record, base))
