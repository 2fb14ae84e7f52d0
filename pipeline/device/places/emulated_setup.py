"""`gelu-edge target setup emulated-pi`: Raspberry Pi OS Bookworm's userland for QEMU user mode.

Debian bookworm arm64 Python 3.11 and the libraries it needs come from Debian's packages,
downloaded with apt into private state folders (the host's apt state is untouched; sources from
the machine's own apt configuration) and unpacked with `dpkg-deb -x`, not installed. The aarch64
wheels of tflite-runtime 2.14 and numpy 1.x, pinned by sha256 (the hashes of requirements.lock),
are unzipped beside them. Everything lives in the user's cache folder (or
$GELU_EDGE_EMULATED_PI), with a manifest of sha256 hashes: the setup reruns only when a file is
missing or damaged. Debian's packages are verified by apt against the archive's signed indexes;
their hashes are recorded in the manifest, not pinned, as Debian's point releases replace them.
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
from pipeline.device.places import apt_sources
from pipeline.errors import UserError
from pipeline.progress import Reporter

PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6")
WHEELS = ("tflite-runtime==2.14.0", "numpy==1.26.4")  # what a Pi user installs; numpy 1.x
# sha256 of their cp311 manylinux aarch64 wheels, as in requirements.lock (a test keeps them equal)
WHEEL_HASHES = {
    "tflite-runtime==2.14.0": "ce9fa5d770a9725c746dcbf6f59f3178233b3759f09982e8b2db8d2234c333b0",
    "numpy==1.26.4": "7ab55401287bfec946ced39700c053796e7cc0e3acbef09993a9ad2adba6ca6e",
}
FOLDER_ENV = "GELU_EDGE_EMULATED_PI"
PIP_PLATFORMS = ("manylinux_2_34_aarch64", "manylinux2014_aarch64", "manylinux_2_17_aarch64")
PYTHON = "usr/bin/python3.11"
SITE = "opt/gelu-edge/site"
MANIFEST = "manifest.json"
FORMAT = 1
STEP_TIMEOUT_S = 900


@dataclass(frozen=True)
class Root:
    """A verified emulated userland."""

    path: Path

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


def qemu() -> str:
    """Path of qemu-aarch64-static; UserError saying how to install it if missing."""
    exe = shutil.which("qemu-aarch64-static")
    if exe is None:
        raise UserError("--on emulated-pi needs qemu-aarch64-static: install Debian's "
                        "qemu-user-static (`make system-deps` does, as root or with sudo)")
    return exe


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
    root = base / "rootfs"
    for rel, digest in recorded.get("files", {}).items():
        path = root / rel
        if not path.is_file() or _sha256(path) != digest:
            return None
    return Root(root)


def _run(cmd: list[str], what: str) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within {STEP_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"{what} failed: {detail}")
    return proc.stdout


def _apt_options(work: Path) -> list[str]:
    return [
        "-o", f"Dir::State={work / 'apt/state'}",
        "-o", f"Dir::State::status={work / 'apt/state/status'}",
        "-o", f"Dir::Cache={work / 'apt/cache'}",
        "-o", f"Dir::Etc::SourceList={os.devnull}",
        "-o", f"Dir::Etc::SourceParts={work / 'apt/sources.list.d'}",
        "-o", f"Dir::Etc::Parts={work / 'apt/apt.conf.d'}",
        "-o", f"Dir::Etc::Preferences={os.devnull}",
        "-o", f"Dir::Etc::PreferencesParts={work / 'apt/preferences.d'}",
        "-o", "APT::Architecture=arm64", "-o", "APT::Architectures::=arm64",
        "-o", "Debug::NoLocking=1", "-o", "APT::Install-Recommends=false",
    ]


def _download_debs(work: Path, reporter: Reporter) -> list[Path]:
    for sub in ("apt/state/lists/partial", "apt/cache/archives/partial", "apt/sources.list.d",
                "apt/apt.conf.d", "apt/preferences.d"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    (work / "apt/state/status").touch()
    sources = apt_sources.machine_sources()
    (work / "apt/sources.list.d/bookworm-arm64.sources").write_text(
        "\n".join(s.deb822() for s in sources))
    options = _apt_options(work)
    reporter.info(f"  apt: bookworm arm64 indexes from {len(sources)} archive(s) of this "
                  "machine's apt configuration")
    _run(["apt-get", *options, "-qq", "update"], "apt-get update (bookworm arm64)")
    reporter.info(f"  apt: downloading {', '.join(PACKAGES)} and what they depend on")
    _run(["apt-get", *options, "-y", "-qq", "--download-only", "install", *PACKAGES],
         "apt-get download of the emulated Pi's Python")
    return sorted((work / "apt/cache/archives").glob("*.deb"))


def _download_wheels(work: Path, reporter: Reporter) -> list[Path]:
    dest = work / "wheels"
    reporter.info(f"  pip: downloading aarch64 wheels of {', '.join(WHEELS)} (sha256 pinned)")
    requirements = work / "wheels.txt"
    requirements.write_text("".join(f"{w} --hash=sha256:{WHEEL_HASHES[w]}\n" for w in WHEELS))
    platforms = [arg for p in PIP_PLATFORMS for arg in ("--platform", p)]
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), *platforms,
          "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
          "--only-binary=:all:", "--no-deps", "--require-hashes", "-r", str(requirements)],
         "pip download of the aarch64 wheels")
    return sorted(dest.glob("*.whl"))


def _smoke(root: Root) -> None:
    cmd = [qemu(), "-cpu", "cortex-a72", "-L", str(root.path), str(root.python), "-c",
           "import numpy, tflite_runtime.interpreter, platform; print(platform.machine())"]
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
    qemu()
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
    debs = _download_debs(work, reporter)
    wheels = _download_wheels(work, reporter)
    rootfs = work / "rootfs"
    with reporter.task("unpacking", len(debs) + len(wheels)) as advance:
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(rootfs)], f"dpkg-deb -x {deb.name}")
            advance(1)
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(rootfs / SITE)
            advance(1)
    _smoke(Root(rootfs))
    manifest = {"format": FORMAT, "packages": list(PACKAGES), "wheels": list(WHEELS),
                "wheel_sha256": WHEEL_HASHES,
                "downloads": {p.name: _sha256(p) for p in [*debs, *wheels]},
                "files": _tree_hashes(rootfs)}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(work / "apt")  # indexes and .debs are not needed once unpacked
    shutil.rmtree(work / "wheels")
    (work / "wheels.txt").unlink()
    shutil.rmtree(base, ignore_errors=True)
    os.replace(work, base)
    reporter.info(f"emulated Raspberry Pi ready: {len(debs)} Debian packages, "
                  f"{len(wheels)} wheels, {len(manifest['files'])} files verified by sha256")
    return Root(base / "rootfs")
