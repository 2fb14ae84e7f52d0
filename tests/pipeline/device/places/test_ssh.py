"""`--on ssh://`: against a real OpenSSH server started here on loopback, with a throw-away host
key and user key in a temporary folder, on an unprivileged port. Nothing leaves loopback."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import read_json

SSHD = "/usr/sbin/sshd"
START_TIMEOUT_S = 10.0
SLOW_DEVICE_SLEEP_S = 29  # an odd figure: the test looks for this sleep on the device
RUN_TIMEOUT_S = 3
SSH_BUDGET_S = 60

pytestmark = pytest.mark.ssh


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _client_config(folder: Path, name: str, port: int, host_key: str) -> Path:
    (folder / f"{name}_known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    config = folder / f"{name}_ssh_config"
    config.write_text(
        "Host 127.0.0.1\n"
        f"  IdentityFile {folder / 'user_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder / (name + '_known_hosts')}\n"
        "  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    return config


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory):
    """A real sshd on 127.0.0.1; yields (url, ssh_config, wrong-key ssh_config, folder)."""
    folder = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(folder / "host_key")
    other_key = _keygen(folder / "other_host_key")
    (folder / "authorized_keys").write_text(_keygen(folder / "user_key") + "\n")
    port = _free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"AllowUsers {getpass.getuser()}\nLogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
    good = _client_config(folder, "good", port, host_key)
    wrong = _client_config(folder, "wrong", port, other_key)
    try:
        yield f"ssh://{getpass.getuser()}@127.0.0.1:{port}", good, wrong, folder
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_parity_over_ssh(cli, device, demo_copy: Path) -> None:
    url, config, _, _ = device
    r = cli("parity", "--out", demo_copy, "--on", url, "--ssh-config", config,
            "--remote-python", sys.executable, "--compare-samples", "1200")
    assert r.code == 0, r
    parity = read_json(demo_copy / "parity.json")
    assert parity["runtime"]["where"] == "ssh" and parity["runtime"]["on"] == url
    cmp = parity["device_vs_host"]
    # The "device" is this machine: its outputs must equal the local run's bit for bit.
    assert cmp["samples"] == 1200 and cmp["differing_outputs"] == 0, cmp
    leftovers = [p for p in Path("/tmp").glob("gelu-edge.*") if p.is_dir()]
    assert not leftovers, leftovers  # the device's temporary folder is removed


def test_parity_over_ssh_within_a_budget(cli, device, demo_copy: Path) -> None:
    url, config, _, _ = device
    start = time.monotonic()
    r = cli("parity", "--out", demo_copy, "--on", url, "--ssh-config", config,
            "--remote-python", sys.executable, "--device-budget", f"{SSH_BUDGET_S}s")
    assert r.code == 0, r
    cmp = read_json(demo_copy / "parity.json")["device_vs_host"]
    b = cmp["budget"]
    # The demo is fast: the budget affords every input up to the cap, on two runners at once.
    assert b["limited_by"] == "cap" and b["ran_samples"] == cmp["samples"] == 4096
    assert b["processes"] == 2 and b["spent_s"] < SSH_BUDGET_S
    assert time.monotonic() - start < SSH_BUDGET_S + 30
    assert cmp["differing_outputs"] == 0 and cmp["bound"]["high"] == 3 / 4096
    assert not [p for p in Path("/tmp").glob("gelu-edge.*") if p.is_dir()]


def test_a_coral_chain_runs_over_ssh(cli, device, coral_transformer, tmp_path: Path) -> None:
    """The chain's segments staged on the device and run there in turn, against model.tflite
    run there on the same samples."""
    url, config, _, _ = device
    _, data, built = coral_transformer
    out = tmp_path / "b"
    shutil.copytree(built, out)
    r = cli("parity", "--out", out, "--data", data, "--target", "coral", "--on", url,
            "--ssh-config", config, "--remote-python", sys.executable, "--min-snr-db", "0")
    assert r.code in (0, 1) and "Traceback" not in r.err, r
    parity = read_json(out / "parity.json")
    check = parity["segments"]["chain_check"]
    assert check["where"] == url and check["equal"], check
    assert check["samples"] == parity["samples"], (check, parity["samples"])
    assert "the chain on ssh://" in r.err and "running the segments on" in r.err
    assert cli("report", out).code in (0, 1)
    assert f"on {url}" in (out / "parity.md").read_text()
    assert not [p for p in Path("/tmp").glob("gelu-edge.*") if p.is_dir()]


def test_wrong_host_key_is_refused(cli, device, demo_copy: Path) -> None:
    url, _, wrong, _ = device
    r = cli("parity", "--out", demo_copy, "--on", url, "--ssh-config", wrong,
            "--remote-python", sys.executable)
    assert r.code == 2 and "Host key verification failed" in r.err, r
    assert "never trusts a host key silently" in r.err and "Traceback" not in r.err


def test_device_without_numpy_gets_a_clear_message(cli, device, demo_copy: Path) -> None:
    url, config, _, _ = device
    python_without_numpy = "/usr/bin/python3"  # Debian's, with no numpy
    r = cli("parity", "--out", demo_copy, "--on", url, "--ssh-config", config,
            "--remote-python", python_without_numpy)
    assert r.code == 2 and "numpy is not installed" in r.err and "pip install" in r.err, r
    assert len(r.err.strip().splitlines()[-1]) > 0 and "Traceback" not in r.err


def test_device_without_python_gets_a_clear_message(cli, device, demo_copy: Path) -> None:
    url, config, _, _ = device
    r = cli("parity", "--out", demo_copy, "--on", url, "--ssh-config", config,
            "--remote-python", "/nonexistent/python3")
    assert r.code == 2 and "has no /nonexistent/python3" in r.err, r


def test_a_run_that_takes_too_long_times_out(cli, device, demo_copy: Path) -> None:
    url, config, _, folder = device
    slow = folder / "slow_python"
    slow.write_text(f"#!/bin/sh\nsleep {SLOW_DEVICE_SLEEP_S}\nexec {sys.executable} \"$@\"\n")
    slow.chmod(0o755)
    start = time.monotonic()
    r = cli("parity", "--out", demo_copy, "--on", url, "--ssh-config", config,
            "--remote-python", slow, "--run-timeout", RUN_TIMEOUT_S)
    assert r.code == 1 and f"within {RUN_TIMEOUT_S} s (--run-timeout)" in r.err, r
    assert time.monotonic() - start < SLOW_DEVICE_SLEEP_S
    # The runner on the device was stopped too, not left to run on.
    running = subprocess.run(["pgrep", "-f", f"sleep {SLOW_DEVICE_SLEEP_S}"],
                             capture_output=True, text=True)
    assert running.stdout.strip() == "", running.stdout


@pytest.mark.parametrize("on, message", [
    ("ftp://host", "use one of"),
    ("ssh://", "malformed address"),
    ("ssh://user@host:99999", "malformed address"),
    ("ssh://user@host/some/path", "malformed address"),
    ("emulated-pi7", "use one of"),
])
def test_bad_on_is_one_line_exit_2(cli, demo_copy: Path, on: str, message: str) -> None:
    r = cli("parity", "--out", demo_copy, "--on", on)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r
