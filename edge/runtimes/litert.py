"""ai-edge-litert (LiteRT), the maintained successor of tflite-runtime."""

from __future__ import annotations

from importlib import metadata

NAME = "litert"
PACKAGE = "ai-edge-litert"


def load() -> tuple[type, str]:
    """Import LiteRT's Interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        version = metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Interpreter, version
