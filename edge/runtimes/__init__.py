"""Registry of TFLite runtimes the runner can use, looked up by name.

Each module exposes NAME, MODULE (the import it needs), PACKAGE (what to pip install on the
device), `load()`, which imports the runtime and returns (Interpreter class, version), and
`load_delegate(path)`. Importing is deferred to `load()` so that a device without one runtime
can still use the other.

$GELU_EDGE_RUNTIMES (comma-separated names) turns the others off, as if they were not installed:
`GELU_EDGE_RUNTIMES=litert` runs on this machine the path of a Python without tflite-runtime
wheels (3.12 and later).
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

from edge.registry import Registry
from edge.runtimes import litert, tflite_runtime

RUNTIMES: Registry[ModuleType] = Registry.of("runtime", (tflite_runtime, litert),
                                             key=lambda m: m.NAME)
DEFAULT = tflite_runtime.NAME
ALLOW_ENV = "GELU_EDGE_RUNTIMES"


class RuntimeMissing(Exception):
    """The runtime's package is not installed where the runner runs."""


def allowed(name: str) -> bool:
    """Whether $GELU_EDGE_RUNTIMES (if set) lets this runtime be used."""
    setting = os.environ.get(ALLOW_ENV, "").strip()
    return not setting or name in {s.strip() for s in setting.split(",")}


def installed() -> list[str]:
    """Runtimes importable here and allowed, found without importing them (so this is safe in
    a process that has TensorFlow loaded)."""
    return [name for name, module in RUNTIMES.items()
            if allowed(name) and importlib.util.find_spec(module.MODULE) is not None]


def load(name: str) -> tuple[type, str]:
    """(Interpreter class, version) of a runtime; RuntimeMissing if it cannot be imported."""
    module = RUNTIMES.get(name)
    if not allowed(name):
        raise RuntimeMissing(f"runtime {name!r} is turned off here by "
                             f"{ALLOW_ENV}={os.environ[ALLOW_ENV]}")
    try:
        return module.load()
    except ImportError as exc:
        raise RuntimeMissing(
            f"runtime {name!r} is not importable here ({exc}); install it with "
            f"`pip install {module.PACKAGE}`"
        ) from None
