"""Load and save Keras models safely, and describe their inputs and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.artifacts import atomic_path
from pipeline.errors import UserError
from pipeline.tfenv import keras


def load_model(path: Path | str) -> Any:
    """Load a Keras 3 model with safe mode on; missing, unreadable or unsafe files are UserErrors."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model {path} not found; pass --model PATH to a Keras .keras file")
    k = keras()
    try:
        model = k.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; all mean the same to a user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load Keras model {path}: {first}") from None
    if not isinstance(model, k.Model):
        raise UserError(f"{path} holds a {type(model).__name__}, not a Keras model")
    check_single_io(model, path)
    return model


def check_single_io(model: Any, path: Path | str) -> None:
    """This version converts models with one input and one output; say so clearly otherwise."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(
            f"{path}: the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "gelu-edge supports models with one input and one output"
        )


def save_model(model: Any, path: Path) -> None:
    """Save a Keras model atomically (the .keras suffix is kept on the temporary file)."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def input_shape(model: Any) -> tuple[int | None, ...]:
    """The model's input shape, batch axis first (None when dynamic)."""
    return tuple(model.inputs[0].shape)


def output_names(model: Any) -> list[str]:
    """The names of the model's outputs (their layers' names), as the gate and report use them."""
    names = getattr(model, "output_names", None)
    if names:
        return [str(n) for n in names]
    return [t._keras_history.operation.name for t in model.outputs]
