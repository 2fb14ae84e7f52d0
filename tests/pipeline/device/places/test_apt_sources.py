"""Apt sources are read from the machine's configuration and pointed at bookworm arm64."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.device.places.apt_sources import machine_sources
from pipeline.errors import UserError

MIRROR = "http://mirror.invalid/debian"  # never contacted: parsing only


def _etc(tmp_path: Path, sources_list: str = "", parts: dict[str, str] | None = None) -> Path:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list").write_text(sources_list)
    for name, text in (parts or {}).items():
        (etc / "sources.list.d" / name).write_text(text)
    return etc


def test_deb822_sources_keep_uri_and_keyring_and_map_the_suite(tmp_path: Path) -> None:
    etc = _etc(tmp_path, parts={"debian.sources": (
        f"Types: deb\nURIs: {MIRROR}\nSuites: trixie trixie-updates\nComponents: main contrib\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://other.invalid/node\nSuites: nodistro\nComponents: main\n"),
        "old.list.disabled": f"deb {MIRROR} bookworm main\n"})
    [src] = machine_sources(etc)
    assert src.uri == MIRROR and src.suites == ("bookworm", "bookworm-updates")
    text = src.deb822()
    assert "Architectures: arm64" in text and "Components: main\n" in text
    assert "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in text


def test_one_line_sources_with_options(tmp_path: Path) -> None:
    etc = _etc(tmp_path, sources_list=(
        f"# a comment\ndeb [arch=amd64 signed-by=/k.gpg] {MIRROR} bookworm main\n"
        f"deb-src {MIRROR} bookworm main\n"))
    [src] = machine_sources(etc)
    assert src.suites == ("bookworm",) and src.signed_by == "/k.gpg"


def test_no_debian_archive_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no Debian archive"):
        machine_sources(_etc(tmp_path))


def test_suite_and_architecture_are_parameters(tmp_path: Path) -> None:
    """The emulated Pi's QEMU comes from trixie for this machine's own architecture."""
    etc = _etc(tmp_path, sources_list=(f"deb {MIRROR} bookworm main\n"
                                       f"deb {MIRROR}-security bookworm-security main\n"))
    plain, security = machine_sources(etc, suite="trixie", arch="amd64")
    assert plain.suites == ("trixie",) and security.suites == ("trixie-security",)
    assert "Architectures: amd64\n" in plain.deb822()
