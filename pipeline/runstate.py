"""What the running command works on (its build folder, stage and model), so that an error
message can name them even when the error itself does not (a disk-full error from numpy, an
unexpected exception)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Current:
    """The command's build folder, the stage running now and the model it works on."""

    out: Path | None = None
    stage: str | None = None
    model: str | None = None


CURRENT = Current()


def begin(out: Path | None, stage: str) -> None:
    """A command that writes into OUT starts; `stage` is its name until a stage is entered."""
    CURRENT.out, CURRENT.stage, CURRENT.model = (Path(out) if out is not None else None,
                                                 stage, None)


def enter(stage: str, model: str | None = None) -> None:
    """A stage starts (on `model`, when known)."""
    CURRENT.stage = stage
    if model is not None:
        CURRENT.model = model


def reset() -> None:
    """Forget the last command (main() calls it as each command starts)."""
    begin(None, "")
    CURRENT.stage = None
