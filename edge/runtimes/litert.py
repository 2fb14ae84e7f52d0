"""ai-edge-litert (LiteRT), the maintained successor of tflite-runtime."""

from __future__ import annotations

from importlib import metadata

NAME = "litert"
MODULE = "ai_edge_litert"
PACKAGE = "ai-edge-litert"


def load() -> tuple[type, str]:
    """Import LiteRT's Interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        version = metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Interpreter, version


def load_delegate(path: str) -> object:
    """An external delegate (e.g. the Edge TPU's libedgetpu.so.1)."""
    from ai_edge_litert.interpreter import load_delegate as load

    return load(path)


def reference_kernels() -> object:
    """The op resolver of the runtime's reference kernels (plain C++, no NEON/SSE paths)."""
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_REF
