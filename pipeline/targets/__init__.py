"""Registry of deployment targets, looked up by name; `--target` choices come from here."""

from __future__ import annotations

from pipeline.errors import UserError
from pipeline.targets import coral, host, rpi
from pipeline.targets.base import Target

TARGETS: dict[str, Target] = {m.TARGET.name: m.TARGET for m in (rpi, coral, host)}
DEFAULT = rpi.TARGET.name


def get(name: str) -> Target:
    """Look up a target; unknown names are a UserError listing the choices."""
    try:
        return TARGETS[name]
    except KeyError:
        raise UserError(f"unknown target {name!r}; choose one of: {', '.join(TARGETS)}") from None


__all__ = ["Target", "TARGETS", "DEFAULT", "get"]
