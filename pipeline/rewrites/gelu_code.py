"""GELU computed in a layer's own code: a subclassed model or custom layer whose `call()` runs
`keras.ops.gelu(x)` (or `keras.activations.gelu`) itself, with no attribute or graph node that
holds the function.

Found by counting, during one eager call of the model, the backend GELU evaluations that no
known site made, each owned by the innermost layer whose code was running. Replaced by running
that layer's `call` with the backend GELU routed to the layer's `call_gelu` attribute (the
approximation). Both are set on the instance, so nothing of it is saved: the approximate
stage's record lists these sites, and they are routed again whenever the model is loaded.

The routing is one dispatcher installed in Keras' backend once, that consults a per-thread
stack: the float reference computed in another thread at the same time keeps exact GELU.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CODE = "code"  # Site.kind of a GELU in a layer's code
ATTR = "call_gelu"  # the instance attribute that holds the function a routed call uses

_STATE = threading.local()
_ORIGINAL: list[Callable[..., Any]] = []  # Keras' own backend GELU, once the dispatcher is in


def _stack() -> list[Callable[..., Any]]:
    if not hasattr(_STATE, "stack"):
        _STATE.stack = []
    return _STATE.stack


def _install() -> Callable[..., Any]:
    """Put the dispatcher in Keras' backend (once); return Keras' own GELU."""
    from keras.src import backend

    if not _ORIGINAL:
        original = backend.nn.gelu

        def gelu(x: Any, approximate: bool = True) -> Any:
            stack = _stack()
            if not stack:
                return original(x, approximate)
            fn = stack.pop()  # the function runs with the routing of the layer around it
            try:
                return fn(x, approximate)
            finally:
                stack.append(fn)

        _ORIGINAL.append(original)
        backend.nn.gelu = gelu
    return _ORIGINAL[0]


@contextlib.contextmanager
def routed(fn: Callable[[Any, bool], Any]) -> Iterator[None]:
    """While the block runs in this thread, every backend GELU evaluation is
    `fn(x, approximate)`."""
    _install()
    stack = _stack()
    stack.append(fn)
    try:
        yield
    finally:
        stack.pop()


@dataclass
class Hidden:
    """A layer whose own code computes GELU: how often per model call, and in which form."""

    layer: Any
    calls: int
    form: str  # "exact" or "tanh" (keras.ops.gelu's default, approximate=True)


def _owner(frame: Any, candidates: dict[int, Any]) -> Any | None:
    """The innermost layer or operation whose code is running (outward from `frame`), if it is
    one of `candidates`: a layer that holds GELU as an attribute or a raw GELU node is known."""
    from keras.src.ops.operation import Operation

    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Operation):
            return candidates.get(id(owner))
        frame = frame.f_back
    return None


def find_hidden(model: Any, run: Callable[[Any], Any], layers: list[Any]) -> list[Hidden]:
    """The `layers` (subclassed models, custom layers) whose own code computed GELU in one
    `run(model)`, in the order given."""
    candidates = {id(layer): layer for layer in layers}
    seen: dict[int, Hidden] = {}

    def count(x: Any, approximate: bool) -> Any:
        owner = _owner(inspect.currentframe(), candidates)
        if owner is not None:
            hit = seen.setdefault(id(owner), Hidden(owner, 0, "tanh" if approximate else "exact"))
            hit.calls += 1
        return _ORIGINAL[0](x, approximate)

    with routed(count):
        run(model)
    return [seen[id(layer)] for layer in layers if id(layer) in seen]


def route(layer: Any, fn: Callable[[Any], Any]) -> Callable[[], None]:
    """Make `layer`'s GELU evaluations in its own code `fn(x)`; return the undo."""
    def call(*args: Any, **kwargs: Any) -> Any:
        with routed(lambda x, approximate: getattr(layer, ATTR)(x)):
            return type(layer).call(layer, *args, **kwargs)

    object.__setattr__(layer, ATTR, fn)
    object.__setattr__(layer, "call", call)

    def undo() -> None:
        for name in ("call", ATTR):
            if name in vars(layer):
                object.__delattr__(layer, name)
    return undo
