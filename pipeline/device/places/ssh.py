"""`--on ssh://user@host[:port]`: a real Raspberry Pi or Coral board, reached with OpenSSH.

The session copies `edge/` to a temporary folder on the device, then the model and inputs
(through ssh itself, `cat` on the device: no scp or sftp server needed);
runs `python3 -m edge` there; copies the outputs back; removes the folder. Host keys are checked
as OpenSSH does (BatchMode: an unknown or changed key is refused, never trusted silently); the
connection has a time-out, the run has the caller's.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import socket
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.device.places.base import REPO_ROOT, Place, Session
from pipeline.errors import UserError
from pipeline.progress import Reporter

SSH_FAILED = 255  # ssh's own exit status: connection, authentication or host key failure
COMMAND_NOT_FOUND = 127
COPY_TIMEOUT_S = 300
# Seconds the check before any work waits for the device to answer (on a LAN it takes ms).
PREFLIGHT_TIMEOUT_S = 3.0
# In the remote folder, one file per runner (two may run side by side): its process group.
RUNNER_PID = ".runner-{}.pid"


def parse_ssh_url(spec: str) -> tuple[str | None, str, int]:
    """ssh://[user@]host[:port] -> (user, host, port); anything else is a UserError."""
    bad = UserError(f"--on {spec!r}: malformed address; use ssh://user@host[:port]")
    try:
        parts = urlsplit(spec)
        port = parts.port or 22
    except ValueError:
        raise bad from None
    if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.password:
        raise bad
    return parts.username, parts.hostname, port


def _edge_tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(REPO_ROOT / "edge", arcname="edge",
                filter=lambda ti: None if "__pycache__" in ti.name else ti)
    return buf.getvalue()


class SshSession(Session):
    """A temporary folder on the device."""

    where = "ssh"

    def __init__(self, device: SshDevice, remote_dir: str) -> None:
        super().__init__(Path(remote_dir))
        self.device, self.remote_dir = device, remote_dir

    def put(self, path: Path) -> str:
        remote = f"{self.remote_dir}/{uuid.uuid4().hex[:8]}-{Path(path).name}"
        self.device.run_ssh(f"cat > {shlex.quote(remote)}", f"copying {Path(path).name}",
                            stdin=Path(path).read_bytes())
        return remote

    def output_path(self, name: str) -> str:
        return f"{self.remote_dir}/{name}"

    def fetch(self, remote: str, local: Path) -> None:
        data = self.device.run_ssh(f"cat {shlex.quote(remote)}", f"copying back {remote}")
        Path(local).write_bytes(data)

    def command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        # The runner gets a process group of its own, its id in a RUNNER_PID file: when the host
        # gives up on it (--run-timeout, Ctrl-C), closing the session kills the whole group there.
        runner = (f"{shlex.quote(self.device.python)} -m edge "
                  f"{' '.join(shlex.quote(a) for a in args)}")
        pid_file = RUNNER_PID.format(uuid.uuid4().hex[:8])
        remote = (f"cd {shlex.quote(self.remote_dir)} && exec setsid --wait sh -c "
                  f"{shlex.quote(f'echo $$ > {pid_file} && exec {runner}')}")
        return self.device.ssh_argv(remote), self.device.env()

    def describe(self) -> dict[str, Any]:
        return {"where": self.where, "host": self.device.host}

    def explain_failure(self, returncode: int, stderr: str) -> str | None:
        if returncode == SSH_FAILED:
            return self.device.ssh_error(stderr)
        if returncode == COMMAND_NOT_FOUND:
            return (f"the device {self.device.host} has no {self.device.python}: install "
                    "Python 3 there (Raspberry Pi OS: sudo apt install python3) or pass "
                    "--remote-python")
        return None


class SshDevice(Place):
    """A device reached over SSH."""

    def __init__(self, user: str | None, host: str, port: int, ssh_config: str | None = None,
                 python: str = "python3", connect_timeout: float = 10.0) -> None:
        self.name = f"ssh://{user + '@' if user else ''}{host}:{port}"
        self.user, self.host, self.port = user, host, port
        self.ssh_config, self.python, self.connect_timeout = ssh_config, python, connect_timeout

    @property
    def destination(self) -> str:
        """user@host as ssh and scp take it."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def _options(self) -> list[str]:
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(self.connect_timeout)}"]
        return (["-F", self.ssh_config] if self.ssh_config else []) + opts

    def env(self) -> dict[str, str]:
        """ssh's environment: this process's."""
        import os

        return dict(os.environ)

    def ssh_argv(self, remote_command: str) -> list[str]:
        """ssh ... DEST REMOTE_COMMAND."""
        return ["ssh", *self._options(), "-p", str(self.port), self.destination, remote_command]

    def ssh_error(self, stderr: str) -> str:
        """A user message for ssh's own failure (exit 255)."""
        last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()),
                    "no message")
        hint = ""
        if "Host key verification failed" in stderr or "HOST IDENTIFICATION HAS CHANGED" in stderr:
            hint = ("; the device's host key is unknown or not the one in known_hosts: check it "
                    "and add it (ssh-keyscan, or one interactive ssh); gelu-edge never trusts a "
                    "host key silently")
        elif "Permission denied" in stderr:
            hint = "; set up key authentication for this user (ssh-copy-id)"
        return f"ssh to {self.destination} port {self.port} failed: {last}{hint}"

    def check_reachable(self) -> None:
        """Before any work: refuse (UserError) a device nothing answers on, with a quick TCP
        connect to the address ssh would use (`ssh -G` applies --ssh-config). A connection
        through a proxy, or a machine without ssh, is left to the session to report."""
        try:
            proc = subprocess.run(["ssh", *(["-F", self.ssh_config] if self.ssh_config else []),
                                   "-G", "-p", str(self.port), self.destination],
                                  capture_output=True, text=True, timeout=PREFLIGHT_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return
        conf = dict(ln.split(" ", 1) for ln in proc.stdout.splitlines() if " " in ln)
        if proc.returncode != 0 or conf.get("proxycommand", "none") != "none" or \
                conf.get("proxyjump", "none") != "none":
            return
        host, port = conf.get("hostname", self.host), int(conf.get("port", self.port))
        try:
            socket.create_connection((host, port), timeout=PREFLIGHT_TIMEOUT_S).close()
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise UserError(f"--on {self.name}: cannot reach {host} port {port} ({reason}): "
                            "check the address and that the device is on and runs sshd"
                            ) from None

    def run_ssh(self, remote_command: str, what: str, stdin: bytes | None = None) -> bytes:
        """Run a shell command on the device; its stdout. UserError with ssh's words if not."""
        try:
            proc = subprocess.run(self.ssh_argv(remote_command), input=stdin, capture_output=True,
                                  timeout=self.connect_timeout + COPY_TIMEOUT_S, env=self.env())
        except subprocess.TimeoutExpired:
            raise UserError(f"ssh to {self.destination}: {what} timed out") from None
        stderr = proc.stderr.decode(errors="replace")
        if proc.returncode == SSH_FAILED:
            raise UserError(self.ssh_error(stderr))
        if proc.returncode != 0:
            last = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
            raise UserError(f"ssh to {self.destination}: {what} failed: {last}")
        return proc.stdout

    @contextlib.contextmanager
    def session(self, reporter: Reporter) -> Iterator[Session]:
        reporter.info(f"connecting to {self.destination} port {self.port}")
        remote_dir = self.run_ssh("mktemp -d /tmp/gelu-edge.XXXXXX", "making a temporary folder")
        remote_dir = remote_dir.decode().strip()
        try:
            self.run_ssh(f"tar xzf - -C {shlex.quote(remote_dir)}", "copying edge/",
                         stdin=_edge_tarball())
            yield SshSession(self, remote_dir)
        finally:
            folder = shlex.quote(remote_dir)
            with contextlib.suppress(UserError):
                pid_files = f"{folder}/{RUNNER_PID.format('*')}"
                self.run_ssh(f"for f in {pid_files}; do if [ -f \"$f\" ]; then kill -TERM -- "
                             f"-$(cat \"$f\") 2>/dev/null; fi; done; rm -rf {folder}",
                             "stopping the runners and cleaning up")
