"""Loading a user's Keras model: files that are not one, and Lambdas Keras cannot rebuild, are
one line saying what failed and what to do."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.inputs import models
from pipeline.tfenv import keras

SEED = 0


def test_lambda_keras_cannot_rebuild_even_unsafe_is_not_told_to_pass_unsafe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    k = keras()
    inp = k.Input((4,))
    out = k.layers.Lambda(lambda v: k.ops.concatenate([v, v], axis=-1))(
        k.layers.Dense(8, activation="gelu")(inp))
    path = tmp_path / "lambda.keras"
    k.Model(inp, out).save(path)
    monkeypatch.setattr(models.LOADING, "unsafe", True)
    with pytest.raises(UserError) as exc:
        models.load_model(path)
    message = str(exc.value)
    assert "even with --unsafe" in message and "pass --unsafe" not in message, message
    assert "infer the shape of the Lambda's output" in message, message  # Keras' own words
    assert "output_shape=" in message and "\x1b[" not in message, message


@pytest.mark.parametrize("files", [
    {"a.bin": b"\x00\x01", "b.txt": b"hello"},  # no config.json
    {"config.json": os.urandom(64) + b"\xe0\x80", "metadata.json": b"\xff\xfe"},  # not UTF-8
])
def test_zip_of_other_files_named_keras_is_not_a_keras_archive(tmp_path: Path,
                                                               files: dict) -> None:
    path = tmp_path / "random.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with pytest.raises(UserError, match="not a Keras model archive .*model.save") as exc:
        models.load_model(path)
    assert "codec" not in str(exc.value)


def test_a_model_gets_the_same_auto_names_whatever_was_loaded_before(tmp_path: Path) -> None:
    """Keras numbers the layers a model makes itself (MultiHeadAttention's Softmax) with
    process-wide counters, and the converted model's tensor names, which quant_plan.json
    refers to, come from them: each load restarts them, so a build (which loads the float
    model first) and `convert --plan` alone name them alike."""
    k = keras()
    inp = k.Input((4, 8))
    mha = k.layers.MultiHeadAttention(2, 4, name="mha")
    k.Model(inp, mha(inp, inp)).save(tmp_path / "a.keras")

    def inner_names(model) -> list[str]:
        return sorted(layer.name for layer in model._flatten_layers(include_self=False))

    first = inner_names(models.load_model(tmp_path / "a.keras"))
    models.load_model(tmp_path / "a.keras")  # another model's layers counted in between
    k.layers.Softmax()
    assert inner_names(models.load_model(tmp_path / "a.keras")) == first
    assert any(name.startswith("softmax") for name in first)
