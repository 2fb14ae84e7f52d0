"""The forms of Keras model users write, brought to one: a functional graph.

Users write `keras.Sequential` stacks (with or without an `Input`), functional models,
subclassed `keras.Model`s and custom layers, nested in each other in any order, and save them
as .keras or legacy .h5. The rewrites and analyses work on functional graphs (operations they
can find and rebuild), so a loaded model is brought to that form once, keeping every layer
object (and so every weight) as it is:
- a Sequential becomes the functional model it computes, under its own name, at any depth;
- a subclassed model (no graph of its own) is called once on an `Input` of the shape Keras
  saved with it, inside a functional model: its layers stay reachable by path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.tfenv import keras


def is_sequential(layer: Any) -> bool:
    """True for a keras.Sequential model."""
    return isinstance(layer, keras().Sequential)


def _holds_sequential(layer: Any) -> bool:
    inner = layer._flatten_layers(include_self=False, recursive=True)
    return any(is_sequential(x) for x in inner)


def _functional_of_sequential(model: Any, source: Path | str) -> Any:
    """The functional model a built Sequential computes, with the same layer objects."""
    k = keras()
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise UserError(f"{source}: the Sequential model {model.name!r} was saved before it was "
                        "built (no input shape); give it a keras.Input(shape) first, or call "
                        "it once on a batch of data, before model.save()")
    spec = inputs[0]
    inp = k.Input(batch_shape=tuple(spec.shape), dtype=spec.dtype, name=spec.name)
    x = inp
    for layer in model.layers:
        x = canonical(layer, source)(x)
    return k.Model(inp, x, name=model.name)


def _functional_of_subclassed(model: Any, source: Path | str) -> Any:
    """A subclassed model wrapped in a functional one, from the input shape Keras saved."""
    k = keras()
    shape = (model.get_build_config() or {}).get("input_shape")
    if not shape or not isinstance(shape[0], (int, type(None))):
        raise UserError(f"{source}: a subclassed model ({type(model).__name__}) saved before it "
                        "was built (no input shape); call it once on a batch of data before "
                        "model.save()")
    inp = k.Input(tuple(shape[1:]), name="input")
    try:
        out = model(inp)
    except Exception as exc:  # the user's call() may not trace symbolically
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{source}: the subclassed model {type(model).__name__}'s call() cannot "
                        f"be traced on a symbolic input ({type(exc).__name__}: {first}); make "
                        "call() use keras.ops only (no numpy or Python branches on values), or "
                        "save a functional model") from None
    return k.Model(inp, out, name=f"{model.name}_functional")


def canonical(model: Any, source: Path | str = "the model") -> Any:
    """`model` as a functional graph: Sequentials at any depth made functional, a subclassed
    top-level model wrapped; other layers returned as they are (shared, not copied)."""
    from pipeline.rewrites.keras_graph import is_functional

    if is_sequential(model):
        return _functional_of_sequential(model, source)
    if is_functional(model):
        if not _holds_sequential(model):
            return model
        return keras().models.clone_model(
            model, clone_function=lambda layer: canonical(layer, source))
    return model


def as_graph(model: Any, source: Path | str) -> Any:
    """A loaded model as the functional graph the pipeline works on (see the module doc)."""
    from pipeline.rewrites.keras_graph import is_functional

    if not is_sequential(model) and not is_functional(model):
        model = _functional_of_subclassed(model, source)
    return canonical(model, source)
