"""Import TensorFlow and Keras quietly, and keep native log noise away from the user.

TensorFlow prints CUDA probes and oneDNN notices from C++ straight to the file descriptors,
and the TFLite converter prints its quantizer settings to stdout. Those lines say nothing a
user can act on, so they are captured and only shown when the step fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _on_fd(stream: object, fd: int) -> bool:
    try:
        return stream.fileno() == fd  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def captured_native_output() -> Iterator[list[str]]:
    """Redirect fds 1 and 2 to a temporary file; yield a list filled with the text afterwards.

    What Python itself prints meanwhile (progress bars, the reporter's lines) still reaches the
    terminal: sys.stdout/sys.stderr are pointed at the original descriptors. Python warnings
    raised meanwhile (TensorFlow's deprecation notes) go to the list with the native lines."""
    from pipeline.interrupts import held

    lines: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    streams = sys.stdout, sys.stderr
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # Whole or not at all: a signal meanwhile interrupts once the redirection is in
            # place, and the finally below puts everything back.
            with held():
                os.dup2(sink.fileno(), 1)
                os.dup2(sink.fileno(), 2)
                if _on_fd(streams[0], 1):
                    sys.stdout = open(saved[0], "w", buffering=1, closefd=False)  # noqa: SIM115
                if _on_fd(streams[1], 2):
                    sys.stderr = open(saved[1], "w", buffering=1, closefd=False)  # noqa: SIM115
            yield lines
        finally:
            with held():
                for replaced, original in zip((sys.stdout, sys.stderr), streams):
                    if replaced is not original:
                        replaced.flush()
                        replaced.close()
                sys.stdout, sys.stderr = streams
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
                sink.seek(0)
                lines.extend(sink.read().decode("utf-8", "replace").splitlines())
                lines.extend(f"{w.category.__name__}: {w.message}" for w in caught)


def tensorflow() -> ModuleType:
    """Return the tensorflow module, imported without its start-up noise."""
    if "tensorflow" not in sys.modules:
        with captured_native_output():
            import tensorflow  # noqa: F401

            tensorflow.get_logger().setLevel("ERROR")
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
    return sys.modules["tensorflow"]


def keras() -> ModuleType:
    """Return Keras 3 (TensorFlow backend), with the project's GELU functions registered."""
    tensorflow()
    import keras as keras_module

    from pipeline.approximations import register_with_keras

    register_with_keras()
    return keras_module
