"""Where the device-side runner (`python -m edge`) runs: a Place opens a Session that stages
files there, builds the command line, and brings outputs back."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.progress import Reporter
from pipeline.tempdirs import temporary_directory

REPO_ROOT = Path(__file__).resolve().parents[3]  # the folder that holds edge/ and pipeline/


class Session:
    """A place the runner can be started in, open for one or more runs."""

    where = "local"

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def put(self, path: Path) -> str:
        """Make a local file available to the runner; return the path it sees."""
        return str(Path(path).resolve())

    def output_path(self, name: str) -> str:
        """Where the runner should write an output file called `name`."""
        return str(self.scratch / name)

    def fetch(self, remote: str, local: Path) -> None:
        """Bring an output file back to this machine."""
        if Path(remote).resolve() != Path(local).resolve():
            shutil.copyfile(remote, local)

    def command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        """argv and environment that start `python -m edge ARGS` there."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return [sys.executable, "-m", "edge", *args], env

    def describe(self) -> dict[str, Any]:
        """What parity.json's `runtime` block says about the place (beyond the runner's info)."""
        return {"where": self.where}

    def explain_failure(self, returncode: int, stderr: str) -> str | None:
        """A user message for a failure of the place itself (not of the runner), or None."""
        return None


class Place:
    """A named place; `session()` opens it (setting it up first when needed)."""

    name = "local"

    def check_reachable(self) -> None:
        """Before any work: refuse (UserError) a place that cannot be reached."""

    @contextlib.contextmanager
    def session(self, reporter: Reporter) -> Iterator[Session]:
        with temporary_directory("run") as tmp:
            yield Session(Path(tmp))
