"""Debian archives from this machine's own apt configuration, pointed at bookworm for arm64.

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
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class Source:
    """One archive: its URI, bookworm suites, components and keyring."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None

    def deb822(self) -> str:
        """The stanza for a private sources.list.d, restricted to arm64."""
        lines = ["Types: deb", f"URIs: {self.uri}", f"Suites: {' '.join(self.suites)}",
                 f"Components: {' '.join(self.components)}", "Architectures: arm64"]
        keyring = self.signed_by or (DEFAULT_KEYRING if Path(DEFAULT_KEYRING).is_file() else None)
        if keyring:
            lines.append(f"Signed-By: {keyring}")
        return "\n".join(lines) + "\n"


def _to_bookworm(suite: str) -> str | None:
    codename, sep, pocket = suite.partition("-")
    if codename not in DEBIAN_CODENAMES:
        return None
    return TARGET_SUITE + sep + pocket


def _source(uri: str, suites: list[str], components: list[str],
            signed_by: str | None) -> Source | None:
    mapped = [s for s in (_to_bookworm(x) for x in suites) if s]
    if not mapped or "main" not in components:
        return None
    return Source(uri.rstrip("/"), tuple(dict.fromkeys(mapped)), ("main",), signed_by)


def _parse_deb822(text: str) -> list[Source]:
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
            src = _source(uri, fields.get("suites", "").split(),
                          fields.get("components", "").split(), fields.get("signed-by"))
            if src:
                found.append(src)
    return found


def _parse_one_line(text: str) -> list[Source]:
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
            src = _source(parts[1], [parts[2]], parts[3:], signed_by)
            if src:
                found.append(src)
    return found


def machine_sources(etc_apt: Path = Path("/etc/apt")) -> list[Source]:
    """The Debian archives this machine's apt uses, as bookworm sources; UserError if none."""
    found: list[Source] = []
    main = etc_apt / "sources.list"
    if main.is_file():
        found += _parse_one_line(main.read_text(errors="replace"))
    parts = etc_apt / "sources.list.d"
    for path in sorted(parts.glob("*.list")) if parts.is_dir() else []:
        found += _parse_one_line(path.read_text(errors="replace"))
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        found += _parse_deb822(path.read_text(errors="replace"))
    if not found:
        raise UserError(f"no Debian archive in this machine's apt configuration ({etc_apt}/"
                        "sources.list*): add one, then run 'gelu-edge target setup emulated-pi'")
    return list(dict.fromkeys(found))
