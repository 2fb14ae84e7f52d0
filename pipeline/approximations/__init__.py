"""Registry of GELU approximations, looked up by name; the CLI's `--approx` choices come from here.

Each variant lives in its own module and exposes `APPROXIMATION`; this file only lists them.
"""

from __future__ import annotations

from pipeline.approximations import hard, lut, poly, pwl, relu_corr, sigmoid, tanh_clip
from pipeline.approximations.base import Approximation, gelu_exact, gelu_tanh
from pipeline.registry import Registry

_MODULES = (lut, relu_corr, sigmoid, tanh_clip, poly, hard, pwl)
REGISTRY: Registry[Approximation] = Registry.of(
    "GELU approximation", (m.APPROXIMATION for m in _MODULES),
    message=Registry.MESSAGE + " (or pwl:N with 2 <= N <= 64 knots)")
_PWL_VARIANTS: dict[str, Approximation] = {}  # pwl:N made on request, kept out of names()
_registered_with_keras = False


def names() -> list[str]:
    """Names of all registered approximations, in registry order."""
    return REGISTRY.names()


def get(name: str, also: tuple[str, ...] = ()) -> Approximation:
    """Look up an approximation by name (`pwl:N` for N knots); unknown names are a UserError
    listing the variants and `also`, the other names the caller accepts (--approx's auto)."""
    if name in REGISTRY:
        return REGISTRY[name]
    if name in _PWL_VARIANTS:
        return _PWL_VARIANTS[name]
    if name.startswith("pwl:") and name[4:].isdigit() and 2 <= int(name[4:]) <= 64:
        approx = pwl.make(int(name[4:]))
        _PWL_VARIANTS[name] = approx
        if _registered_with_keras:
            _register_one(approx)
        return approx
    raise REGISTRY.unknown(name, (*also, *names()))


def _register_one(approx: Approximation) -> None:
    import keras

    if approx.keras_name:
        keras.saving.register_keras_serializable(package="gelu_edge", name=approx.keras_name)(
            approx.keras_fn
        )


def register_with_keras() -> None:
    """Register every variant's Keras function so replaced models save and load by name."""
    global _registered_with_keras
    if _registered_with_keras:
        return
    for approx in REGISTRY.values():
        _register_one(approx)
    _registered_with_keras = True


__all__ = ["Approximation", "REGISTRY", "get", "names", "gelu_exact", "gelu_tanh"]
