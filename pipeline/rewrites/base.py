"""What a rewrite is: a pattern found in a Keras model (user layers, keras_hub layers, raw ops)
and an equivalent that keeps the weights, saves and loads, and lowers to the int8 ops it
declares. Each rewrite lives in its own module and is registered by name in
`pipeline.rewrites`; the approximate stage applies the chosen ones in registry order.

A rewrite is applied in place (a class swapped, a method or function replaced) or by rebuilding
a functional graph; either way `apply` returns the model and a function that undoes the
in-place part, so the float reference stays intact. Whatever a parent layer rebuilds from its
own config when the model is loaded again (keras_hub's transformer layers rebuild their
sublayers) is why the rewrites are applied again on every load (`pipeline.rewrites.load`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Undo = Callable[[], None]


@dataclass
class Match:
    """One place a rewrite applies: the layer (or op), its path, and how to compute the
    replacement's output on the same inputs (for the per-site float error)."""

    path: str
    target: Any  # the layer, or the raw operation, the rewrite changes
    detail: str = ""
    replacement: Callable[..., Any] | None = None  # same arguments as the target's call
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """What a rewrite may need besides the model."""

    target: str  # the deployment target: some rewrites take another form for accelerators
    approx: Any = None  # the GELU approximation (for the gelu rewrite)
    run: Callable[[Any], Any] | None = None  # one eager call of the model on samples
    # constants a rewrite fitted on samples, from approximate.json on a reload (stream-scale's
    # vectors by layer path); None: fit them with `run`
    fitted: dict[str, list[float]] | None = None


@dataclass(frozen=True)
class Rewrite:
    """A pattern -> replacement pair."""

    name: str
    summary: str
    int8_ops: frozenset[str]  # what the replacement lowers to in int8 TFLite
    targets: tuple[str, ...] | None  # the targets it suits; None: every target
    find: Callable[[Any, Options], list[Match]]
    apply: Callable[[Any, list[Match], Options], tuple[Any, Undo]]
    # Also needed where the op runs in float (a form some runtime or compiler cannot load);
    # False: it only makes the op int8-friendly, and a build that keeps the op in float
    # (the matmuls placement) leaves it out.
    float_too: bool = False

    def suits(self, target: str) -> bool:
        """True when the rewrite is meant for this target."""
        return self.targets is None or target.split(":")[0] in self.targets


def relative_error(reference: Any, replaced: Any) -> tuple[float, float]:
    """(max absolute difference, the same over the reference's largest magnitude)."""
    ref = np.asarray(reference, np.float64)
    new = np.asarray(replaced, np.float64)
    diff = float(np.max(np.abs(new - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return diff, diff / scale if scale > 0 else diff


def swap_class(layer: Any, new_class: type) -> Undo:
    """Give an instance another class (a subclass with another `call`): weights and attributes
    stay as they are."""
    old = layer.__class__
    object.__setattr__(layer, "__class__", new_class)
    return lambda: object.__setattr__(layer, "__class__", old)


def undo_all(undos: list[Undo]) -> Undo:
    """One undo for several, in reverse order."""
    def undo() -> None:
        for fn in reversed(undos):
            fn()
    return undo


def site_errors(model: Any, matches: list[Match], run: Callable[[Any], Any]
                ) -> list[tuple[float, float]]:
    """For each match, the largest (absolute, relative) difference between the layer's output
    and its replacement's on the same inputs, over one `run(model)`. The original output goes
    on, so one site's error does not reach the next."""
    import keras

    errors = [(0.0, 0.0)] * len(matches)

    def dual(i: int, layer: Any, replacement: Callable[..., Any], normalise: bool
             ) -> Callable[..., Any]:
        original = type(layer).call

        def call(*args: Any, **kwargs: Any) -> Any:
            y = original(layer, *args, **kwargs)
            y_new = replacement(*args, **kwargs)
            pairs = zip(keras.tree.flatten(y), keras.tree.flatten(y_new))
            for a, b in pairs:
                if a is None or b is None:
                    continue
                a, b = keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
                if normalise:  # compared as directions: an L2 normalisation follows
                    a, b = (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
                            for v in (a, b))
                err = relative_error(a, b)
                errors[i] = (max(errors[i][0], err[0]), max(errors[i][1], err[1]))
            return y
        return call

    wrapped = [(i, m) for i, m in enumerate(matches) if m.replacement is not None]
    try:
        for i, m in wrapped:
            object.__setattr__(m.target, "call", dual(i, m.target, m.replacement,
                                                      bool(m.extra.get("normalise"))))
        run(model)
    finally:
        for _, m in wrapped:
            if "call" in vars(m.target):
                object.__delattr__(m.target, "call")
    return errors
