"""Messages for errors no stage expected: one line naming the stage, the model, the exception's
type and message, with the full traceback in the build folder's error.log (or, when that cannot
be written, a temporary file); and disk errors that name a path even when the library did not."""

from __future__ import annotations

import contextlib
import tempfile
import traceback
from pathlib import Path

from pipeline import artifacts
from pipeline.errors import UserError
from pipeline.runstate import CURRENT


def _where() -> str:
    where = f" in stage {CURRENT.stage}" if CURRENT.stage else ""
    return where + (f" (model {CURRENT.model})" if CURRENT.model else "")


def _save_traceback(text: str) -> Path:
    """FOLDER/error.log, in the ledger; else a file in the temp folder."""
    out = CURRENT.out
    if out is not None and out.is_dir():
        with contextlib.suppress(OSError, UserError):
            return artifacts.write_error_log(out, text)
    with tempfile.NamedTemporaryFile("w", prefix="gelu-edge-error-", suffix=".log",
                                     delete=False, encoding="utf-8") as fh:
        fh.write(text)
    return Path(fh.name)


def internal(exc: BaseException) -> str:
    """The one line for an unexpected exception; its traceback is saved (the path is named)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        log = f"the full traceback is in {_save_traceback(text)}"
    except OSError as err:
        log = f"its traceback could not be saved ({err.strerror or err})"
    incomplete = (f"; {CURRENT.out} is as the stages that finished left it"
                  if CURRENT.out is not None else "")
    return (f"internal error{_where()}: {type(exc).__name__}: {exc}; {log}{incomplete}; "
            "please report it, with that file")


def disk(exc: OSError) -> str:
    """A read, write or permission error: the path (the file, else the build folder) and cause.
    Finished artifacts are whole (each is renamed into place), the one being written is not."""
    path = exc.filename or (f"files in {CURRENT.out}" if CURRENT.out is not None else None)
    where = f" {path}" if path else ""
    check = f"; `gelu-edge verify {CURRENT.out}` checks the folder" \
        if CURRENT.out is not None else ""
    return (f"cannot write or read{where}{_where()}: {exc.strerror or exc}; finished "
            f"artifacts are complete, nothing is half-written{check}")
