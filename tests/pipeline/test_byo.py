"""Bring your own model and data (issue #6): every model form through `build` end to end, with
the user's registered objects imported from a file, and every form of calibration data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import float_input

from pipeline.errors import UserError
from pipeline.inputs.calibration import load_calibration
from pipeline.inputs.data import DEFAULT_DATA, load_dataset
from pipeline.inputs.models import import_custom_objects
from pipeline.inputs.signature import describe
from pipeline.records import ParityRecord
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph

pytestmark = pytest.mark.slow  # end-to-end builds

FEATURES = 6
SAMPLES = 600
BUILD_SAMPLES = "100"
SAME_OUTPUT_TOL = 5e-3

USER_OBJECTS = '''
import keras


@keras.saving.register_keras_serializable(package="user")
def tanh_gelu(x):
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="user")
class FeedForward(keras.layers.Layer):
    """A custom block with GELU nested inside."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.up = keras.layers.Dense(units, activation="gelu", name="up")
        self.down = keras.layers.Dense(4, name="down")

    def call(self, x):
        return self.down(self.up(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="user")
class TinyNet(keras.Model):
    """A subclassed model using the user's own registered tanh GELU."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation=tanh_gelu, name="hidden")
        self.head = keras.layers.Dense(1, name="head")

    def call(self, x):
        return self.head(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}
'''


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory):
    """(custom objects file, its module, a data file with x and y)."""
    folder = tmp_path_factory.mktemp("user")
    objects = folder / "my_layers.py"
    objects.write_text(USER_OBJECTS)
    import_custom_objects(objects)
    module = next(m for name, m in sys.modules.items()
                  if name.startswith("gelu_edge_custom_") and hasattr(m, "TinyNet"))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3]).astype(np.float32)
    np.savez(folder / "data.npz", x=x, y=y)
    return objects, module, folder / "data.npz"


def _functional(layer_fn) -> object:
    k = keras()
    inp = k.Input((FEATURES,))
    return k.Model(inp, k.layers.Dense(1)(layer_fn(inp)))


def _build(cli, model: Path, data: Path, out: Path, *extra: str):
    return cli("build", "--model", model, "--data", data, "--out", out, "--samples",
               BUILD_SAMPLES, *extra)


def _forms(module) -> dict[str, tuple[object, bool]]:
    """name -> (model, needs the custom objects file)."""
    k = keras()
    sub = module.TinyNet()
    sub(np.zeros((1, FEATURES), np.float32))
    return {
        "functional_exact": (_functional(lambda t: k.layers.Dense(16, activation="gelu")(t)),
                             False),
        "user_tanh_function": (_functional(lambda t: k.layers.Dense(
            16, activation=module.tanh_gelu)(t)), True),
        "nested_custom_layer": (_functional(lambda t: module.FeedForward(name="ffn")(t)), True),
        "subclassed_model": (sub, True),
    }


# Functional, nested custom layers, subclassed and .h5 models: the model-forms matrix
# (tests/pipeline/inputs/test_forms.py). Here, the user's own registered tanh GELU function.
@pytest.mark.parametrize("form", ["user_tanh_function"])
def test_model_form_builds_end_to_end(cli, user, tmp_path: Path, form: str) -> None:
    objects, module, data = user
    model, needs_objects = _forms(module)[form]
    path = tmp_path / f"{form}.keras"
    model.save(path)
    extra = ["--custom-objects", str(objects)] if needs_objects else []
    r = _build(cli, path, data, tmp_path / "b", *extra)
    assert r.code == 0, r
    parity = ParityRecord.load(tmp_path / "b")
    assert parity.approx.replaced >= 1 and "GELU" in parity.ops
    assert parity.first.task.kind == "regression" and parity.first.task.quantized is not None
    # The replaced model keeps its weights: lut is exact GELU, so its outputs stay the same
    # (up to tanh GELU vs exact GELU, 4.7e-4 at most per unit, for the tanh forms).
    assert parity.first.approx_metrics.max_abs_error < SAME_OUTPUT_TOL


def test_missing_custom_objects_is_a_clear_error(cli, user, tmp_path: Path) -> None:
    _, module, data = user
    model, _ = _forms(module)["nested_custom_layer"]
    model.save(tmp_path / "m.keras")
    # This process has the objects registered already; a fresh process does not.
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--model",
                           str(tmp_path / "m.keras"), "--data", str(data), "--out",
                           str(tmp_path / "b")], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2 and "--custom-objects" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_lambda_is_refused_unless_unsafe(cli, user, tmp_path: Path) -> None:
    k = keras()
    _, _, data = user
    model = _functional(lambda t: k.layers.Lambda(lambda v: v * 0.5, output_shape=(16,))(
        k.layers.Dense(16, activation="gelu")(t)))
    model.save(tmp_path / "lambda.keras")
    r = _build(cli, tmp_path / "lambda.keras", data, tmp_path / "b")
    assert r.code == 2 and "--unsafe" in r.err and len(r.err.strip().splitlines()) == 1, r
    r = _build(cli, tmp_path / "lambda.keras", data, tmp_path / "b", "--unsafe")
    assert r.code == 0, r
    assert ParityRecord.load(tmp_path / "b").approx.replaced == 1


def test_savedmodel_folder_is_a_clear_error(cli, user, tmp_path: Path) -> None:
    _, module, data = user
    model, _ = _forms(module)["functional_exact"]
    model.export(tmp_path / "saved", verbose=False)
    r = _build(cli, tmp_path / "saved", data, tmp_path / "b")
    assert r.code == 2 and "SavedModel" in r.err and "model.save" in r.err, r


def test_custom_objects_file_that_fails_is_reported_with_its_line(cli, user,
                                                                    tmp_path: Path) -> None:
    _, _, data = user
    bad = tmp_path / "bad_layers.py"
    bad.write_text("import keras\n\nraise RuntimeError('broken on purpose')\n")
    r = cli("build", "--model", DEFAULT_DATA, "--custom-objects", bad, "--out", tmp_path / "b")
    assert r.code == 2 and "(line 3): RuntimeError: broken on purpose" in r.err, r


def test_without_data_parity_runs_on_calibration_samples(cli, user, tmp_path: Path) -> None:
    _, module, data = user
    model, _ = _forms(module)["functional_exact"]
    model.save(tmp_path / "m.keras")
    with np.load(data) as d:
        np.save(tmp_path / "calib.npy", d["x"][:300])
    r = cli("build", "--model", tmp_path / "m.keras", "--calibration", tmp_path / "calib.npy",
            "--out", tmp_path / "b")
    assert r.code == 0, r
    parity = ParityRecord.load(tmp_path / "b")
    assert parity.first.task.kind is None and parity.data.split == "calibration"
    assert "task metric is absent" in (tmp_path / "b" / "parity.md").read_text()


def test_fine_tuning_wins_back_the_approximation_error(cli, tmp_path: Path) -> None:
    out = tmp_path / "b"
    r = cli("build", "--approx", "hard", "--fine-tune-epochs", "5", "--out", out,
            "--epochs", "20", "--samples", "300")
    assert r.code == 0, r
    ft = ParityRecord.load(out).fine_tune
    assert ft.metric == "mae" and ft.after < ft.before, ft
    assert "Fine-tuned 5 epochs" in (out / "parity.md").read_text()


# --- calibration forms ------------------------------------------------------------------------

def test_calibration_forms(tmp_path: Path) -> None:
    x = np.random.default_rng(2).normal(size=(20, 4, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "a.npz", x_calib=x, other=x[:1])
    flat = x.reshape(20, -1)
    header = ",".join(f"f{i}" for i in range(12))
    np.savetxt(tmp_path / "a.csv", flat, delimiter=",", header=header, comments="")
    (tmp_path / "npys").mkdir()
    for i in range(4):
        np.save(tmp_path / "npys" / f"{i}.npy", x[i * 5:(i + 1) * 5])
    for source in ("a.npy", "a.npz", "a.csv", "npys"):
        got = load_calibration(tmp_path / source, float_input((4, 3)))
        assert got.shape == (20, 4, 3) and np.allclose(got, x, atol=1e-6), source


def test_calibration_from_images_is_resized_and_scaled(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "img").mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 40, 3), 60 * i, np.uint8)).save(tmp_path / "img" / f"{i}.png")
    got = load_calibration(tmp_path / "img", float_input((8, 8, 1)))
    assert got.shape == (3, 8, 8, 1) and np.isclose(got[2].max(), 120 / 255, atol=0.01)


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p / "c.npy", np.full((5, 6), np.nan, np.float32)), "NaN/inf"),
    (lambda p: np.save(p / "c.npy", np.zeros((5, 7), np.float32)), "expects"),
    (lambda p: (p / "c.csv").write_text("a,b\n1,x\n"), "non-numeric"),
    (lambda p: (p / "c.txt").write_text("1,2\n"), "unsupported calibration format"),
    (lambda p: np.save(p / "c.npy", np.array(["a"] * 6)), "not numeric"),
])
def test_bad_calibration_is_one_clear_error(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    path = next(p for p in tmp_path.iterdir())
    with pytest.raises(UserError, match=message):
        load_calibration(path, float_input((6,)))


def test_data_warnings_few_samples_and_poor_coverage(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(50, 6)).astype(np.float32),
             y=np.zeros((50, 1), np.float32))
    np.save(tmp_path / "c.npy", (rng.normal(size=(500, 6)) * 0.1).astype(np.float32))
    data = load_dataset(tmp_path / "d.npz", tmp_path / "c.npy", describe(_functional(lambda t: t)))
    text = " ".join(data.warnings)
    assert "only 50 evaluation samples" in text
    assert "lie outside the range of calibration" in text


def test_several_inputs_and_outputs_each_output_gets_its_metrics(cli, tmp_path: Path) -> None:
    k = keras()
    a, b = k.Input((FEATURES,), name="sensor"), k.Input((3,), name="context")
    h = k.layers.Dense(16, activation="gelu", name="mix")(k.layers.Concatenate()([a, b]))
    model = k.Model([a, b], [k.layers.Dense(1, name="value")(h),
                             k.layers.Dense(3, name="label")(h)])
    model.save(tmp_path / "multi.keras")
    rng = np.random.default_rng(4)
    n = 400
    np.savez(tmp_path / "d.npz", x_sensor=rng.normal(size=(n, FEATURES)).astype(np.float32),
             x_context=rng.normal(size=(n, 3)).astype(np.float32),
             y_value=rng.normal(size=(n, 1)).astype(np.float32),
             y_label=rng.integers(0, 3, size=n))
    out = tmp_path / "b"
    r = cli("build", "--model", tmp_path / "multi.keras", "--data", tmp_path / "d.npz",
            "--out", out, "--samples", "200", "--min-top1-agreement", "0.5")
    assert r.code == 0, r
    parity = ParityRecord.load(out)
    assert [o.name for o in parity.outputs] == ["value", "label"]
    value, label = parity.outputs
    assert value.task.kind == "regression"
    assert label.task.kind == "classification"
    assert label.task.top1_agreement is not None
    assert value.metrics.snr_db != label.metrics.snr_db
    assert {t.output for t in parity.thresholds} == {"value", "label"}
    graph = tflite_graph.read(out / "model.tflite")
    assert [graph.tensors[i].shape for i in graph.inputs] == [(1, FEATURES), (1, 3)]
    with np.load(out / "parity_samples.npz") as samples:
        assert {"x_0", "x_1", "y_float", "y_float_1", "y_true_1"} <= set(samples.files)
        assert samples["y_quantized_1"].shape == (200, 3)
    assert "## Per output" in (out / "parity.md").read_text()


def test_a_constructor_that_refuses_keras_arguments_is_named(cli, user, tmp_path: Path) -> None:
    """`def __init__(self)` in a subclassed model: Keras saves `trainable` and `dtype` for it
    and cannot pass them back, so not even Keras loads the file; the one line says what to
    change in the user's class, not to register what is registered."""
    _, _, data = user
    (tmp_path / "bare.py").write_text(
        "import keras\n\n\n"
        "@keras.saving.register_keras_serializable(package='bare')\n"
        "class Bare(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.up = keras.layers.Dense(4, activation='gelu')\n\n"
        "    def call(self, x):\n"
        "        return self.up(x)\n")
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import bare; "
         "m = bare.Bare(); m(np.zeros((1, 16), 'float32')); m.save(sys.argv[2])",
         str(tmp_path), str(tmp_path / "bare.keras")], capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    r = _build(cli, tmp_path / "bare.keras", data, tmp_path / "b", "--custom-objects",
               tmp_path / "bare.py")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r
    assert "Bare.__init__() does not take 'trainable'" in r.err and "**kwargs" in r.err, r
