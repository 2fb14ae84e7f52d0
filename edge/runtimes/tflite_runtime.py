"""tflite-runtime 2.14: what Raspberry Pi OS users install (numpy 1.x, Python <= 3.11)."""

from __future__ import annotations

NAME = "tflite-runtime"
MODULE = "tflite_runtime"
PACKAGE = "tflite-runtime==2.14.0 'numpy<2'"


def load() -> tuple[type, str]:
    """Import tflite_runtime's Interpreter."""
    import tflite_runtime
    from tflite_runtime.interpreter import Interpreter

    return Interpreter, str(getattr(tflite_runtime, "__version__", "unknown"))


def load_delegate(path: str) -> object:
    """An external delegate (e.g. the Edge TPU's libedgetpu.so.1)."""
    from tflite_runtime.interpreter import load_delegate as load

    return load(path)


def reference_kernels() -> object:
    """The op resolver of the runtime's reference kernels (plain C++, no NEON/SSE paths)."""
    from tflite_runtime.interpreter import OpResolverType

    return OpResolverType.BUILTIN_REF
