"""Input paths: what a user gave that is not a file, said as what it is."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pipeline.errors import UserError


def refuse_symlink_loop(path: Path, what: str) -> None:
    """UserError if `path` is a symlink loop (Path.exists is False on one, which would read as
    "not found")."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{what} {path} is a symlink loop (its links lead back to "
                            "themselves); point it at the real file") from None
