"""The emulated Raspberry Pi, for real: Debian bookworm arm64 Python under qemu-aarch64-static,
set up from Debian's packages once per machine into the tests' persistent cache (conftest points
$GELU_EDGE_EMULATED_PI there; every use verifies it by sha256), then parity run there with the
project's unchanged `edge/` runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import read_json

from pipeline.device.places import emulated_setup
from pipeline.progress import Quiet

pytestmark = [pytest.mark.qemu, pytest.mark.network(cache="emulated-pi")]


@pytest.fixture(scope="module")
def pi_root() -> emulated_setup.Root:
    return emulated_setup.setup(Quiet())


def test_setup_is_cached_and_verified_by_hash(pi_root, cli) -> None:
    assert pi_root.python.is_file() and (pi_root.site / "tflite_runtime").is_dir()
    r = cli("target", "setup", "emulated-pi")
    assert r.code == 0 and "setting up" not in r.err, r  # verified, not redone
    victim = pi_root.site / "numpy" / "__init__.py"
    original = victim.read_bytes()
    victim.write_bytes(original + b"\n# damaged\n")
    try:
        assert emulated_setup.verify() is None
    finally:
        victim.write_bytes(original)
    assert emulated_setup.verify() == pi_root


def test_parity_on_the_emulated_pi(cli, pi_root, demo_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    r = cli("parity", "--out", out, "--on", "emulated-pi")
    assert r.code == 0, r
    parity = read_json(out / "parity.json")
    rt = parity["runtime"]
    assert (rt["machine"], rt["where"], rt["cpu"], rt["version"]) == \
        ("aarch64", "emulated", "cortex-a72", "2.14.0")
    cmp = parity["device_vs_host"]
    assert cmp["samples"] >= 4096 and cmp["host"]["machine"] != "aarch64"
    assert cmp["max_diff_lsb"] <= 1  # last-bit differences at most
    assert (cmp["first_difference"] is None) == (cmp["differing_outputs"] == 0)
    assert cmp["budget"]["processes"] == 2 and cmp["bound"]["samples"] == cmp["samples"]
    if cmp["differing_outputs"]:  # the demo's FULLY_CONNECTED rounds differently on aarch64
        d = cmp["divergence"]
        assert d["first"]["op"] == "FULLY_CONNECTED" and d["first"]["max_diff"] == 1
        assert d["reference"]["agree"] and d["traced_matches_run"]
    r = cli("report", "--out", out)
    assert r.code == 0 and "## Device vs this machine" in (out / "parity.md").read_text()


def test_pi5_uses_cortex_a76(cli, pi_root, demo_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    r = cli("parity", "--out", out, "--on", "emulated-pi5", "--compare-samples", "64")
    assert r.code == 0, r
    assert read_json(out / "parity.json")["runtime"]["cpu"] == "cortex-a76"


def test_litert_on_the_emulated_pi_is_a_clear_error(cli, pi_root, demo_build: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    r = cli("parity", "--out", out, "--on", "emulated-pi", "--runtime", "litert")
    assert r.code == 2 and "tflite-runtime 2.14 only" in r.err, r
    assert len(r.err.strip().splitlines()[-1]) and "Traceback" not in r.err
