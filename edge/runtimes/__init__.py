"""Registry of TFLite runtimes the runner can use, looked up by name.

Each module exposes NAME, PACKAGE (what to pip install on the device), `load()`, which
imports the runtime and returns (Interpreter class, version), and `load_delegate(path)`. Importing is deferred to `load()`
so that a device without one runtime can still use the other.
"""

from __future__ import annotations

from types import ModuleType

from edge.runtimes import litert, tflite_runtime

RUNTIMES: dict[str, ModuleType] = {m.NAME: m for m in (tflite_runtime, litert)}
DEFAULT = tflite_runtime.NAME


class RuntimeMissing(Exception):
    """The runtime's package is not installed where the runner runs."""


def load(name: str) -> tuple[type, str]:
    """(Interpreter class, version) of a runtime; RuntimeMissing if it cannot be imported."""
    module = RUNTIMES[name]
    try:
        return module.load()
    except ImportError as exc:
        raise RuntimeMissing(
            f"runtime {name!r} is not importable here ({exc}); install it with "
            f"`pip install {module.PACKAGE}`"
        ) from None
