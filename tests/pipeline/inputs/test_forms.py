"""Every form of Keras model a user writes builds end to end, for rpi and coral (the forms:
tests/model_forms.py): no traceback, the report written, the GELU sites found equal to the
true number, and for coral no GELU op left. Tiny untrained models with the gate opened wide:
what is tested is that each form goes through every stage and analysis, not its accuracy."""

from __future__ import annotations

from pathlib import Path

import model_forms
import numpy as np
import pytest

from pipeline.inputs.models import import_custom_objects, load_model
from pipeline.records import ParityRecord
from pipeline.rewrites.keras_graph import is_functional
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph

# Untrained models: the gate is opened so that exit 0 means every stage ran.
OPEN_GATE = ("--min-snr-db", "0", "--max-error-lsb", "256", "--min-cosine", "-1")
# lut against the original: exact GELU where GELU was exact, 4.7e-4 per unit where it was tanh
SAME_OUTPUT_TOL = 5e-3
END_TO_END = [name for name, f in model_forms.FORMS.items() if not f.hub]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory):
    """form name -> (model file, data file), each made once."""
    folder = tmp_path_factory.mktemp("forms")
    made: dict[str, tuple[Path, Path]] = {}

    def get(name: str) -> tuple[Path, Path]:
        if name not in made:
            made[name] = model_forms.save(model_forms.FORMS[name], folder)
        return made[name]
    return get


# Every form for rpi; for coral (the same loading and tracing, another approximation and
# every op int8) a plain Sequential, a subclassed model and a custom layer.
CORAL_FORMS = ("sequential", "subclassed", "custom_layer")
BUILDS = [*((name, "rpi") for name in END_TO_END),
          *((name, "coral") for name in END_TO_END if name in CORAL_FORMS)]


@pytest.mark.parametrize("name, target", BUILDS)
def test_every_model_form_builds(cli, saved, tmp_path: Path, name: str, target: str) -> None:
    form = model_forms.FORMS[name]
    model, data = saved(name)
    out = tmp_path / "b"
    extra = ("--custom-objects", model_forms.USER_LAYERS) if form.custom else ()
    approx = "lut" if target == "rpi" else "relu-corr"
    r = cli("build", "--model", model, "--data", data, "--target", target, "--out", out,
            "--approx", approx, *OPEN_GATE, *extra)
    assert r.code == 0 and "Traceback" not in r.err, r
    assert (out / "parity.md").is_file() and (out / "parity.html").is_file()
    parity = ParityRecord.load(out)
    assert parity.approx.replaced == form.sites, parity.approx.sites
    ops = tflite_graph.read(out / "model.tflite").op_counts()
    if target == "coral":
        assert "GELU" not in ops, ops
    else:  # the lookup table is the GELU op, one per site
        assert ops.get("GELU") == form.sites, ops
        # lut keeps exact GELU and every weight: the replaced model's outputs stay the same
        # (up to tanh GELU against exact GELU for keras.ops.gelu's default form)
        assert parity.first.approx_metrics.max_abs_error < SAME_OUTPUT_TOL
    assert parity.first.task.kind == "regression" and parity.first.task.quantized is not None
    assert parity.gelu_sites and len(parity.gelu_sites) == len(parity.approx.sites)


def test_a_sequential_becomes_the_functional_model_it_computes(saved) -> None:
    """Same layer objects (the weights are not copied), same outputs, the same name."""
    model_path, data_path = saved("sequential_in_functional")
    plain = keras().saving.load_model(model_path)
    model = load_model(model_path)
    x = np.load(data_path)["x"][:8]
    assert is_functional(model) and not any(
        isinstance(layer, keras().Sequential) for layer in model._flatten_layers())
    assert np.array_equal(np.asarray(plain(x)), np.asarray(model(x)))
    assert "block" in [layer.name for layer in model.layers]


def test_a_subclassed_call_that_cannot_be_traced_is_refused_in_one_line(
        cli, tmp_path: Path) -> None:
    import_custom_objects(model_forms.USER_LAYERS)
    model = keras().saving.get_registered_object("forms>NumpyNet")()
    x, y = model_forms.regression()
    model(x[:2])
    model.save(tmp_path / "numpy_net.keras")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    r = cli("build", "--model", tmp_path / "numpy_net.keras", "--data", tmp_path / "d.npz",
            "--custom-objects", model_forms.USER_LAYERS, "--out", tmp_path / "b")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r
    assert "NumpyNet's call() cannot be traced" in r.err and "keras.ops" in r.err
    assert not (tmp_path / "b" / "model_float.keras").exists()


def test_a_sequential_saved_before_it_was_built_is_refused(cli, tmp_path: Path) -> None:
    k = keras()
    k.Sequential([k.layers.Dense(4, activation="gelu")]).save(tmp_path / "unbuilt.keras")
    x, y = model_forms.regression()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    r = cli("build", "--model", tmp_path / "unbuilt.keras", "--data", tmp_path / "d.npz",
            "--out", tmp_path / "b")
    assert r.code == 2 and "saved before it was built" in r.err, r


@pytest.mark.slow  # --recover searches and --sensitivity converts once per layer
@pytest.mark.parametrize("name", ["sequential_in_functional", "subclassed"])
def test_sensitivity_and_recover_on_every_form(cli, saved, tmp_path: Path, name: str) -> None:
    """A gate the int8 model misses, so --recover searches; --sensitivity on nested layers."""
    form = model_forms.FORMS[name]
    model, data = saved(name)
    out = tmp_path / "b"
    extra = ("--custom-objects", model_forms.USER_LAYERS) if form.custom else ()
    r = cli("build", "--model", model, "--data", data, "--out", out, "--approx", "lut",
            "--recover", "--integer-only", "--sensitivity", "2", "--min-snr-db", "60", *extra)
    assert r.code in (0, 1) and "Traceback" not in r.err, r
    assert "recover:" in r.err
    parity = ParityRecord.load(out)
    assert len(parity.sensitivity) == 2, parity.sensitivity
    assert all(row.snr_db is not None or row.note for row in parity.sensitivity)
