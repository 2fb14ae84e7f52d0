"""How stages report progress and warnings without depending on the CLI.

Stages take a `Reporter`; the CLI passes one that draws Click progress bars, tests pass
`Quiet()`, which remembers warnings so they can be asserted on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    """Progress and messages from a stage."""

    def task(self, label: str, total: int) -> contextlib.AbstractContextManager[Advance]:
        """A long step of `total` units; the yielded function advances it."""

    def info(self, message: str) -> None:
        """A line of progress information."""

    def warn(self, message: str) -> None:
        """A warning the user should read; the build goes on."""

    def phase(self, label: str) -> contextlib.AbstractContextManager[None]:
        """A long step whose progress cannot be counted (the TFLite converter): says that it
        runs, that it is still running now and then, and how long it took."""


class Quiet:
    """A Reporter that prints nothing and keeps the messages."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Advance]:
        yield lambda n: None

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @contextlib.contextmanager
    def phase(self, label: str) -> Iterator[None]:
        yield
