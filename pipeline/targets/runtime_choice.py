"""Which runtime runs a target's parity on this machine. A CPU target names the runtime its
users install (`rpi`: tflite-runtime 2.14); where that runtime is not installed here (it has no
wheels for Python 3.12 and later) and the user did not ask for one, its successor ai-edge-litert
runs instead, and the report says so and what that means for the target's users."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from edge import runtimes

# A runtime and the one that stands in for it when it is not installed here.
STAND_INS = {"tflite-runtime": "litert"}


@dataclass(frozen=True)
class RuntimeChoice:
    """The runtime parity runs on here, and, if it stands in for the target's, why."""

    name: str
    stands_in_for: str | None = None
    note: str | None = None


def _why_missing(name: str) -> str:
    if not runtimes.allowed(name):
        return f"{runtimes.ALLOW_ENV}={os.environ.get(runtimes.ALLOW_ENV, '')} turns it off"
    if name == "tflite-runtime" and sys.version_info >= (3, 12):
        return f"it has no wheels for Python {sys.version_info.major}.{sys.version_info.minor}"
    return "it is not installed here"


def choose(target_runtime: str, requested: str | None = None) -> RuntimeChoice:
    """`requested` (--runtime) if given; else the target's runtime, or its stand-in when the
    target's is not installed here and the stand-in is."""
    if requested:
        return RuntimeChoice(requested)
    stand_in = STAND_INS.get(target_runtime)
    available = runtimes.installed()
    if target_runtime in available or stand_in is None or stand_in not in available:
        return RuntimeChoice(target_runtime)
    note = (f"{target_runtime} was not used ({_why_missing(target_runtime)}): parity ran on "
            f"{stand_in} instead. the target's users run tflite-runtime 2.14, whose "
            "kernels can differ from LiteRT's in the last bit and which cannot load op versions "
            "newer than TensorFlow 2.14 (the static op-version check still applies); to measure "
            "tflite-runtime itself use --on emulated-pi or a device with --on ssh://")
    return RuntimeChoice(stand_in, target_runtime, note)
