"""Registry of GELU approximations, looked up by name; the CLI's `--approx` choices come from here.

Each variant lives in its own module and exposes `APPROXIMATION`; this file only lists them.
"""

from __future__ import annotations

from pipeline.approximations import lut, sigmoid
from pipeline.approximations.base import Approximation, gelu_exact, gelu_tanh
from pipeline.errors import UserError

_MODULES = (lut, sigmoid)
REGISTRY: dict[str, Approximation] = {m.APPROXIMATION.name: m.APPROXIMATION for m in _MODULES}
_registered_with_keras = False


def names() -> list[str]:
    """Names of all registered approximations, in registry order."""
    return list(REGISTRY)


def get(name: str) -> Approximation:
    """Look up an approximation by name; an unknown name is a UserError listing the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(
            f"unknown GELU approximation {name!r}; choose one of: {', '.join(names())}"
        ) from None


def register_with_keras() -> None:
    """Register every variant's Keras function so replaced models save and load by name."""
    global _registered_with_keras
    if _registered_with_keras:
        return
    import keras

    for approx in REGISTRY.values():
        if approx.keras_name:
            keras.saving.register_keras_serializable(package="gelu_edge", name=approx.keras_name)(
                approx.keras_fn
            )
    _registered_with_keras = True


__all__ = ["Approximation", "REGISTRY", "get", "names", "gelu_exact", "gelu_tanh"]
