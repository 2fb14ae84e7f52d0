"""Debian archives from this machine's own apt configuration, pointed at another suite and
architecture (bookworm arm64 for the emulated Pi's userland, trixie amd64 for its QEMU).

Nothing here names a host: the archive addresses are read from /etc/apt/sources.list and
/etc/apt/sources.list.d/*.list / *.sources, and only the suite's codename is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserError

DEBIAN_CODENAMES = ("buster", "bullseye", "bookworm", "trixie", "forky", "sid", "unstable",
                    "testing", "stable", "oldstable")
TARGET_SUITE = "bookworm"  # Raspberry Pi OS Bookworm's userland is Debian bookworm
TARGET_ARCH = "arm64"
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class Source:
    """One archive: its URI, suites (already mapped to the wanted one), components, keyring
    and the one architecture to fetch."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None
    arch: str = TARGET_ARCH

    def deb822(self) -> str:
        """The stanza for a private sources.list.d, restricted to its architecture."""
        lines = ["Types: deb", f"URIs: {self.uri}", f"Suites: {' '.join(self.suites)}",
                 f"Components: {' '.join(self.components)}", f"Architectures: {self.arch}"]
        keyring = self.signed_by or (DEFAULT_KEYRING if Path(DEFAULT_KEYRING).is_file() else None)
        if keyring:
            lines.append(f"Signed-By: {keyring}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Wanted:
    suite: str
    arch: str

    def map_suite(self, suite: str) -> str | None:
        """bookworm-updates -> SUITE-updates; None for a suite that is not Debian's."""
        codename, sep, pocket = suite.partition("-")
        if codename not in DEBIAN_CODENAMES:
            return None
        return self.suite + sep + pocket

    def source(self, uri: str, suites: list[str], components: list[str],
               signed_by: str | None) -> Source | None:
        mapped = [s for s in (self.map_suite(x) for x in suites) if s]
        if not mapped or "main" not in components:
            return None
        return Source(uri.rstrip("/"), tuple(dict.fromkeys(mapped)), ("main",), signed_by,
                      self.arch)


def _parse_deb822(text: str, wanted: _Wanted) -> list[Source]:
    found = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        for uri in fields.get("uris", "").split():
            src = wanted.source(uri, fields.get("suites", "").split(),
                          fields.get("components", "").split(), fields.get("signed-by"))
            if src:
                found.append(src)
    return found


def _parse_one_line(text: str, wanted: _Wanted) -> list[Source]:
    found = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if not parts or parts[0] != "deb":
            continue
        signed_by = None
        if len(parts) > 1 and parts[1].startswith("["):
            options = []
            while parts[1:] and not parts[1].endswith("]"):
                options.append(parts.pop(1))
            options.append(parts.pop(1))
            for opt in " ".join(options).strip("[]").split():
                if opt.startswith("signed-by="):
                    signed_by = opt.split("=", 1)[1]
        if len(parts) >= 4:
            src = wanted.source(parts[1], [parts[2]], parts[3:], signed_by)
            if src:
                found.append(src)
    return found


def machine_sources(etc_apt: Path = Path("/etc/apt"), *, suite: str = TARGET_SUITE,
                    arch: str = TARGET_ARCH) -> list[Source]:
    """The Debian archives this machine's apt uses, as sources of SUITE (its -updates and
    -security pockets kept) for ARCH; UserError if none."""
    wanted = _Wanted(suite, arch)
    found: list[Source] = []
    main = etc_apt / "sources.list"
    if main.is_file():
        found += _parse_one_line(main.read_text(errors="replace"), wanted)
    parts = etc_apt / "sources.list.d"
    for path in sorted(parts.glob("*.list")) if parts.is_dir() else []:
        found += _parse_one_line(path.read_text(errors="replace"), wanted)
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        found += _parse_deb822(path.read_text(errors="replace"), wanted)
    if not found:
        raise UserError(f"no Debian archive in this machine's apt configuration ({etc_apt}/"
                        "sources.list*): add one, then run 'gelu-edge target setup emulated-pi'")
    return list(dict.fromkeys(found))
