"""Load and save Keras models safely, and describe their inputs and outputs.

Models load with Keras safe mode on: a model that needs arbitrary code (a `Lambda` layer, a
lambda activation) is refused unless the user passes `--unsafe`. `--custom-objects FILE.py` is
imported first, so the custom layers and functions it registers resolve.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.artifacts import atomic_path
from pipeline.errors import UserError
from pipeline.inputs import forms
from pipeline.inputs.paths import refuse_symlink_loop
from pipeline.tfenv import keras


@dataclass
class Loading:
    """How models are loaded in this process (set once by the command line)."""

    unsafe: bool = False
    custom_objects: Path | None = None


LOADING = Loading()
_imported: set[Path] = set()


def import_custom_objects(path: Path) -> None:
    """Import a user's Python file (once) so its registered Keras objects resolve."""
    path = Path(path).resolve()
    if path in _imported:
        return
    if not path.is_file() or path.suffix != ".py":
        raise UserError(f"--custom-objects {path}: not a Python file")
    keras()  # the file will import keras; make sure TensorFlow's import stays quiet
    spec = importlib.util.spec_from_file_location(f"gelu_edge_custom_{len(_imported)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code may raise anything; report where
        frame = next((f for f in reversed(traceback.extract_tb(exc.__traceback__))
                      if Path(f.filename).resolve() == path), None)
        where = f" (line {frame.lineno})" if frame else ""
        raise UserError(f"--custom-objects {path}{where}: {type(exc).__name__}: {exc}") from None
    _imported.add(path)


def configure(unsafe: bool = False, custom_objects: Path | None = None) -> None:
    """Set how this process loads models; imports the custom objects file now."""
    LOADING.unsafe, LOADING.custom_objects = unsafe, custom_objects
    if custom_objects is not None:
        import_custom_objects(custom_objects)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _keras_words(exc: Exception) -> str:
    """Keras' own first line that says something (not "Exception encountered when calling
    ..."), without its terminal colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in str(exc).splitlines()]
    said = [ln for ln in lines if ln and not ln.startswith("Exception encountered")]
    return said[0] if said else _first_line(exc)


def _keras_archive(path: Path) -> bool:
    """Whether a .keras zip holds what model.save() writes: a JSON config.json (.h5 files are
    not checked)."""
    import json
    import zipfile

    if path.suffix != ".keras":
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return isinstance(json.loads(archive.read("config.json").decode("utf-8")), dict)
    except (KeyError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError, EOFError):
        return False


def _restart_auto_names() -> None:
    """Keras numbers the layers a model makes for itself (keras_hub's attention creates a
    Softmax: softmax, softmax_1, ...) with counters global to the process, and those names
    become the converted model's tensor names, which quant_plan.json refers to. Restarted
    before each load, a model gets the same names whatever was loaded before it: a build
    (which loads the float model first) and `convert --plan` alone name its tensors alike."""
    from keras.src.utils import naming

    naming.reset_uids()


def load_model(path: Path | str) -> Any:
    """Load a Keras 3 model (.keras, or .h5 where Keras 3 reads it) with safe mode on unless
    --unsafe; missing, unreadable, unsafe or SavedModel inputs are UserErrors saying what to do."""
    path = Path(path)
    refuse_symlink_loop(path, "model")
    if not path.exists():
        raise UserError(f"model {path} not found; pass --model PATH to a Keras .keras file")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            raise UserError(
                f"{path} is a TensorFlow SavedModel: Keras 3 loads it only as an inference-only "
                "layer, in which GELU cannot be replaced; load it where it was built (with "
                "its code) and save it with model.save('model.keras'), then pass that file")
        raise UserError(f"{path} is a folder; pass --model PATH to a Keras .keras or .h5 file")
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise UserError(f"{path}: expected a Keras .keras file (or a legacy .h5)")
    k = keras()
    from pipeline.presets import keras_layers  # the presets' layers, registered for loading

    del keras_layers
    _restart_auto_names()
    try:
        model = k.saving.load_model(path, safe_mode=not LOADING.unsafe, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; all mean the same to a user
        message = _first_line(exc)
        if LOADING.unsafe and "lambda" in str(exc).lower():
            fix = ("give the Lambda layer an output_shape (keras.layers.Lambda(fn, "
                   "output_shape=...)) and save the model again"
                   if "output_shape" in str(exc) else "fix the Lambda's function")
            raise UserError(f"cannot load Keras model {path}, even with --unsafe: "
                            f"{_keras_words(exc)} To load it, {fix}, or use a registered "
                            "layer and pass --custom-objects") from None
        if "safe_mode" in message or "lambda" in message.lower():
            raise UserError(f"cannot load Keras model {path} safely: it holds Python code (a "
                            "Lambda layer or a lambda function). If you trust the file, pass "
                            "--unsafe; better, replace the lambda with a registered function "
                            "and pass --custom-objects") from None
        unexpected = re.search(r"(\w+)\.__init__\(\) got an unexpected keyword argument "
                               r"'(\w+)'", str(exc))
        if unexpected:  # registered, but its constructor refuses what Keras saved
            cls, arg = unexpected.groups()
            raise UserError(f"cannot load Keras model {path}: {cls}.__init__() does not take "
                            f"{arg!r}, which Keras saves for every layer, so Keras itself "
                            f"cannot load it: give {cls}.__init__ **kwargs and pass them to "
                            "super().__init__(**kwargs), then save the model again") from None
        if "Could not locate" in message or "Unknown" in message or "deserialized" in message:
            message = message.split(". ")[0].rstrip(".")  # Keras appends the whole config
            raise UserError(f"cannot load Keras model {path}: {message}; pass --custom-objects "
                            "FILE.py that registers it (keras.saving."
                            "register_keras_serializable)") from None
        if path.stat().st_size == 0 or not _readable_archive(path):
            raise UserError(f"{path} is damaged or truncated (not a complete Keras file): save "
                            "the model again with model.save()") from None
        if not _keras_archive(path):
            raise UserError(f"{path} is not a Keras model archive (a zip without a readable "
                            "config.json): save the model with model.save('model.keras')"
                            ) from None
        raise UserError(f"cannot load Keras model {path}: {message}") from None
    if not isinstance(model, k.Model):
        raise UserError(f"{path} holds a {type(model).__name__}, not a Keras model")
    return forms.as_graph(model, path)


def _readable_archive(path: Path) -> bool:
    """Whether a .keras file is a complete zip archive (.h5 files are not checked)."""
    import zipfile

    if path.suffix != ".keras":
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def save_model(model: Any, path: Path) -> None:
    """Save a Keras model atomically (the .keras suffix is kept on the temporary file)."""
    with atomic_path(path) as tmp:
        model.save(tmp)
