"""Finding and swapping things inside a Keras model, at any depth.

Three kinds of place hold something a rewrite may replace:
- an attribute of a layer (a layer's `activation`, a Lambda's `function`, a sublayer a custom
  layer keeps as an attribute): swapped with setattr;
- a raw operation node of a functional graph (`keras.ops.gelu(x)` on a KerasTensor): swapped by
  rebuilding that graph (and every functional graph around it) with the layer that replaces it;
- a layer of a functional graph: swapped the same way.

A rewrite must only count what really runs: an attribute that a custom layer merely passes on
to an inner layer (keras_hub's TransformerEncoder keeps `activation` for its inner Dense) is
not called. `called_attributes` finds out by calling the model once with recorders in place.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Place:
    """Where something sits in a model: the layer path and, for an attribute, its name."""

    path: str  # layer path from the model: "backbone/transformer_layer_0/ffn_dense"
    attr: str | None = None  # "activation", "function", ...; None for a graph node

    def __str__(self) -> str:
        return f"{self.path}.{self.attr}" if self.attr else self.path


KERAS_LISTS = {"_layers"}  # Keras' own list of every sublayer: a user's attribute says more


def _auto_named(layer: Any) -> bool:
    """Whether a layer's name is one Keras made up (`dense`, `dense_3`): it depends on how many
    layers of that class the process made before, so it differs between loads of one file."""
    from keras.src.utils.naming import to_snake_case

    return re.fullmatch(rf"{re.escape(to_snake_case(type(layer).__name__))}(_\d+)?",
                        layer.name) is not None


def _attribute_name(parent: Any, child: Any) -> str | None:
    """The attribute of `parent` that holds `child` (`d1`, `blocks[2]`), if any."""
    attrs = vars(parent)
    for name, value in attrs.items():
        if value is child:
            return name.lstrip("_")
    for name, value in attrs.items():
        if isinstance(value, (list, tuple)) and name not in KERAS_LISTS:
            for i, item in enumerate(value):
                if item is child:
                    return f"{name.lstrip('_')}[{i}]"
    return None


def _saves_name(layer: Any) -> bool:
    """Whether the layer's config holds its name, so loading gives it back. A subclassed model
    whose get_config leaves the name out gets a new made-up one on every load."""
    try:
        return "name" in layer.get_config()
    except Exception:  # noqa: BLE001 (a user's get_config may raise anything)
        return False


def _ordinal_name(parent: Any, child: Any) -> str:
    """A made-up name that only the graph decides: the class's snake-case name, numbered
    among the parent's children of that class in order (`net`, `net_1`)."""
    from keras.src.utils.naming import to_snake_case

    same = [c for c in parent._flatten_layers(include_self=False, recursive=False)
            if type(c) is type(child)]
    index = next(i for i, c in enumerate(same) if c is child)
    base = to_snake_case(type(child).__name__)
    return base if index == 0 else f"{base}_{index}"


def child_name(parent: Any, child: Any) -> str:
    """A layer's name in a path, the same every time the model is loaded: its own name, which
    a functional graph saves with it (a layer whose config leaves its made-up name out is
    named by its class and place instead); inside a subclassed model or custom layer, a
    made-up name is replaced by the attribute that holds the layer."""
    if not _auto_named(child):
        return child.name
    if is_functional(parent):
        return child.name if _saves_name(child) else _ordinal_name(parent, child)
    return _attribute_name(parent, child) or child.name


def walk(layer: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, layer) for every layer inside `layer`, outermost first, each once."""
    seen: set[int] = set()

    def visit(parent: Any, base: str) -> Iterator[tuple[str, Any]]:
        for child in parent._flatten_layers(include_self=False, recursive=False):
            if id(child) in seen:
                continue
            seen.add(id(child))
            name = child_name(parent, child)
            path = f"{base}/{name}" if base else name
            yield path, child
            yield from visit(child, path)

    yield from visit(layer, prefix)


def is_functional(layer: Any) -> bool:
    """True for a functional model (a graph of operations Keras can rebuild)."""
    from keras.src.models.functional import Functional

    return isinstance(layer, Functional)


def graphs(model: Any) -> list[tuple[str, Any]]:
    """(path, functional model) for `model` (path "") and every functional model inside it."""
    found = [("", model)] if is_functional(model) else []
    return found + [(p, layer) for p, layer in walk(model) if is_functional(layer)]


def graph_nodes(model: Any) -> Iterator[tuple[str, Any, Any]]:
    """(path of the op, op, the functional model that holds it) for every raw operation (not a
    layer) of every functional graph in `model`, nested ones included."""
    import keras

    for base, graph in graphs(model):
        for op in graph.operations:
            if not isinstance(op, keras.layers.Layer):
                yield (f"{base}/{op.name}" if base else op.name), op, graph


def layer_at(model: Any, path: str) -> Any:
    """The layer at a path from `walk`."""
    for p, layer in walk(model):
        if p == path:
            return layer
    raise KeyError(path)


@contextlib.contextmanager
def wrapping(targets: list[tuple[Any, str]],
             wrap: Callable[[int, Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """While the block runs, each (layer, attribute) function `fn` is replaced by
    `wrap(index, fn)`; the originals are put back afterwards, whatever happens."""
    originals = [getattr(layer, attr) for layer, attr in targets]
    try:
        for i, ((layer, attr), fn) in enumerate(zip(targets, originals)):
            # object.__setattr__: no layer tracking for a temporary function.
            object.__setattr__(layer, attr, wrap(i, fn))
        yield
    finally:
        for (layer, attr), fn in zip(targets, originals):
            object.__setattr__(layer, attr, fn)


def called_attributes(model: Any, targets: list[tuple[Any, str]],
                      run: Callable[[Any], Any]) -> list[int]:
    """How many times each (layer, attribute) function is called by one `run(model)` (an eager
    call of the model on a sample): 0 for an attribute that only configures something else."""
    counts = [0] * len(targets)

    def counter(i: int, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            counts[i] += 1
            return fn(*args, **kwargs)
        return counted

    if targets:
        with wrapping(targets, counter):
            run(model)
    return counts


def rebuild(model: Any, swaps: dict[int, Callable[..., Any]]) -> Any:
    """The functional `model` rebuilt with some operations swapped: `swaps` maps id(op) to a
    function called instead of the op, with the op's arguments. Nested functional models that
    hold a swapped op are rebuilt too; every other layer is reused as it is (same weights)."""
    import keras

    def holds_swap(layer: Any) -> bool:
        return any(id(op) in swaps for _, op, _ in graph_nodes(layer)) or any(
            id(inner) in swaps for _, inner in walk(layer))

    def clone(layer: Any) -> Any:
        if is_functional(layer) and holds_swap(layer):
            return rebuild(layer, swaps)
        return layer

    def call(op: Any, *args: Any, **kwargs: Any) -> Any:
        swap = swaps.get(id(op))
        return swap(op, *args, **kwargs) if swap is not None else op(*args, **kwargs)

    return keras.models.clone_model(model, clone_function=clone, call_function=call)
