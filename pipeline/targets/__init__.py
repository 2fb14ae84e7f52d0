"""Registry of deployment targets, looked up by name; `--target` choices come from here.

Each module declares its targets (data, rules and a checker); `get` also accepts
`ethos-u:CONFIG` for another Vela accelerator config.
"""

from __future__ import annotations

from pipeline.errors import UserError
from pipeline.registry import Registry
from pipeline.targets import coral, ethos_u, host, rpi
from pipeline.targets.base import (
    CPU,
    SUPPORTED,
    UNSUPPORTED,
    Compat,
    OpVerdict,
    Rule,
    Target,
)

TARGETS: Registry[Target] = Registry.of(
    "target", (t for m in (rpi, coral, ethos_u, host) for t in m.TARGETS),
    message=Registry.MESSAGE + " (or ethos-u:CONFIG)")
DEFAULT = rpi.TARGET.name


def get(name: str, runtime: str | None = None) -> Target:
    """Look up a target; unknown names are a UserError listing the choices. With `runtime`
    (--runtime), the target as that runtime's users have it (`rpi` with tflite-runtime 2.14),
    where it has such a variant."""
    if name.startswith("ethos-u:") and name not in TARGETS:
        return ethos_u.make_target(name.split(":", 1)[1])
    target = TARGETS.get(name)
    return rpi.VARIANTS.get(name, {}).get(runtime or "", target)


def describe_details(compat: Compat) -> list[str]:
    """The target's own lines about its figures in `compat.details` (none for unknown ones)."""
    try:
        return get(compat.target).details(compat)
    except UserError:
        return []


def names() -> list[str]:
    """Registered target names."""
    return TARGETS.names()


__all__ = ["Target", "TARGETS", "DEFAULT", "get", "names", "describe_details", "Compat",
           "OpVerdict", "Rule", "SUPPORTED", "CPU", "UNSUPPORTED"]
