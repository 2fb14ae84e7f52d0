"""The emulated Raspberry Pi, for real: Debian bookworm arm64 Python under QEMU 10's
qemu-aarch64 (Debian trixie's qemu-user), set up from Debian's packages once per machine into the
tests' persistent cache (conftest points $GELU_EDGE_EMULATED_PI there; every use verifies it by
sha256), then parity run there with the project's unchanged `edge/` runner, on tflite-runtime
2.14 and on ai-edge-litert 2.3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import read_json

from pipeline.device.places import emulated_qemu, emulated_setup
from pipeline.errors import UserError
from pipeline.progress import Quiet

# LiteRT's aarch64 and x86_64 builds run different optimized kernels; an int8 FULLY_CONNECTED may
# round its accumulator differently by one LSB (as tflite-runtime's do), never more.
LITERT_MAX_LSB_DIFF = 1
LITERT_COMPARE_SAMPLES = 256  # at most; the tiny model's data has fewer

pytestmark = [pytest.mark.qemu, pytest.mark.network(cache="emulated-pi")]


@pytest.fixture(scope="module")
def pi_root() -> emulated_setup.Root:
    return emulated_setup.setup(Quiet())


def test_setup_is_cached_and_verified_by_hash(pi_root, cli) -> None:
    assert pi_root.python.is_file() and (pi_root.site / "tflite_runtime").is_dir()
    assert (pi_root.site / "ai_edge_litert").is_dir()
    emulator = pi_root.emulator  # QEMU 10 from trixie, in the emulated Pi's own folder
    assert emulator.litert and int(emulator.version.split(".")[0]) >= 10, emulator
    assert emulator.path.is_relative_to(emulated_setup.folder()) and emulator.sha256
    recorded = json.loads((emulated_setup.folder() / emulated_setup.MANIFEST).read_text())
    assert recorded["emulator"]["sha256"] == emulator.sha256
    r = cli("target", "setup", "emulated-pi")
    assert r.code == 0 and "setting up" not in r.err, r  # verified, not redone
    for victim in (pi_root.site / "numpy" / "__init__.py", emulator.path):
        original = victim.read_bytes()
        victim.write_bytes(original + b"\n# damaged\n")
        try:
            assert emulated_setup.verify() is None, victim
        finally:
            victim.write_bytes(original)
    assert emulated_setup.verify() == pi_root


def test_parity_on_the_emulated_pi(cli, pi_root, demo_copy: Path) -> None:
    out = demo_copy
    # tflite-runtime: its optimized FULLY_CONNECTED rounds differently on aarch64, which the
    # divergence trace below follows (LiteRT, rpi's default: test_litert_on_the_emulated_pi5)
    r = cli("parity", "--out", out, "--on", "emulated-pi", "--runtime", "tflite-runtime")
    assert r.code == 0, r
    parity = read_json(out / "parity.json")
    rt = parity["runtime"]
    assert (rt["machine"], rt["where"], rt["cpu"], rt["version"]) == \
        ("aarch64", "emulated", "cortex-a72", "2.14.0")
    assert rt["emulator"].startswith(f"qemu-aarch64 {pi_root.emulator.version} ")
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


def test_litert_on_the_emulated_pi5_gives_the_hosts_outputs(
        cli, pi_root, tiny_build: Path, tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    """LiteRT on the Pi 5's Cortex-A76 (tflite-runtime on the Pi 4's A72 is tested above)."""
    out = tmp_path / "build"
    shutil.copytree(tiny_build, out)
    r = cli("parity", "--out", out, "--data", tiny_inputs[1], "--on", "emulated-pi5",
            "--runtime", "litert", "--compare-samples", LITERT_COMPARE_SAMPLES)
    assert r.code == 0, r
    parity = read_json(out / "parity.json")
    rt, cmp = parity["runtime"], parity["device_vs_host"]
    assert (rt["name"], rt["version"], rt["machine"], rt["where"], rt["cpu"]) == \
        ("litert", "2.3.0", "aarch64", "emulated", "cortex-a76")
    assert cmp["host"]["name"] == "litert" and cmp["host"]["machine"] != "aarch64"
    assert 0 < cmp["samples"] <= LITERT_COMPARE_SAMPLES
    assert cmp["max_diff_lsb"] <= LITERT_MAX_LSB_DIFF, cmp


def _unreachable(work: Path, reporter) -> emulated_qemu.Emulator:
    raise UserError("apt-get update (trixie amd64) failed: E: Some index files failed to "
                    "download")


def test_under_the_qemu_72_fallback_litert_is_refused_in_one_line(
        cli, pi_root, tiny_build: Path, tiny_inputs: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """trixie out of reach: this machine's qemu-aarch64-static runs the Pi, and `--runtime
    litert` stops at the runner's start with the reason, not with a crash."""
    monkeypatch.setattr(emulated_qemu, "fetch", _unreachable)
    emulator = emulated_qemu.provide(tmp_path, Quiet())
    assert emulator.path == Path(shutil.which(emulated_qemu.FALLBACK)), emulator
    assert not emulator.litert and emulator.version.startswith("7.")
    monkeypatch.setattr(emulated_setup, "setup",
                        lambda reporter, force=False: emulated_setup.Root(pi_root.path, emulator))
    out = tmp_path / "build"
    shutil.copytree(tiny_build, out)
    r = cli("parity", "--out", out, "--data", tiny_inputs[1], "--on", "emulated-pi",
            "--runtime", "litert")
    assert r.code == 2 and "Traceback" not in r.err, r
    last = r.err.strip().splitlines()[-1]
    assert f"QEMU {emulator.version}" in last and "trixie" in last and "index files" in last
    assert "--runtime tflite-runtime" in last
