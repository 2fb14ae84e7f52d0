"""The CLI end to end: the demo build, each stage alone, exit codes and bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, read_json, save_data

from pipeline import artifacts, tasks
from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.inputs.data import DEFAULT_DATA
from pipeline.records import ApproximateRecord, ParityRecord, TrainRecord

pytestmark = pytest.mark.slow  # end-to-end builds

# parity.json numbers are recomputed from parity_samples.npz in float64, as the pipeline does.
RECOMPUTE_RTOL = 1e-9


def test_demo_build_artifacts(demo_build: Path) -> None:
    for name in (artifacts.MODEL_FLOAT, artifacts.MODEL_APPROX, artifacts.MODEL_TFLITE,
                 artifacts.PARITY_JSON, artifacts.PARITY_MD, artifacts.MANIFEST,
                 artifacts.PARITY_SAMPLES):
        assert (demo_build / name).is_file(), name
    assert not list(demo_build.glob(".*tmp*")), "temporary files left behind"
    parity = ParityRecord.load(demo_build)
    assert parity.passed is True and parity.quantize == "int8" and parity.target == "rpi"
    assert parity.approx.name == "lut" and parity.approx.replaced == 1
    assert parity.runtime.name == "litert" and parity.runtime.where == "local"  # rpi: LiteRT
    assert parity.runtime.version == edge_client.runtime_info("litert")["version"]
    assert parity.samples >= 1000
    assert parity.ops == {"FULLY_CONNECTED": 2, "GELU": 1}
    assert parity.first.task.kind == "regression" and parity.first.task.metric == "mae"
    assert parity.size.parameters == 769 and parity.size.tflite_bytes > 0
    assert [(t.name, t.dtype) for t in parity.inputs] == [("x", "INT8")]
    train = TrainRecord.load(demo_build)
    assert train.eval_mae_float < 0.5 * train.eval_mae_linear  # clearly beats a linear fit


def test_parity_numbers_recompute_from_samples(demo_build: Path) -> None:
    parity = ParityRecord.load(demo_build)
    s = np.load(demo_build / artifacts.PARITY_SAMPLES)
    assert set(s.files) >= {"x", "y_float", "y_approx", "y_quantized"}
    assert len(s["x"]) == parity.samples
    first = parity.first
    for key, ref, test in (("metrics", "y_float", "y_quantized"),
                           ("approx_metrics", "y_float", "y_approx")):
        again = metrics.compare(s[ref], s[test], first.quantization.scale)
        for name, value in getattr(first, key).model_dump().items():
            if value is None:
                assert getattr(again, name) is None
            else:
                assert getattr(again, name) == pytest.approx(value, rel=RECOMPUTE_RTOL), name
    assert tasks.get("regression").score(s["y_true"], s["y_quantized"]) == pytest.approx(
        first.task.quantized, rel=RECOMPUTE_RTOL)


def test_manifest_hashes_match(demo_build: Path) -> None:
    manifest = read_json(demo_build / artifacts.MANIFEST)
    for name, digest in manifest["artifacts"].items():
        assert artifacts.sha256_file(demo_build / name) == digest
    assert manifest["data"]["sha256"] == artifacts.sha256_file(DEFAULT_DATA)
    assert manifest["versions"]["tensorflow"].startswith("2.21")
    assert {"keras", "numpy", "tflite-runtime", "ai-edge-litert", "python"} <= \
        set(manifest["versions"])
    lock = manifest["lock"]  # the clone's lock: its hash, and what differs from it
    assert lock["sha256"] == artifacts.sha256_file(REPO / "requirements.lock")
    assert "tensorflow" not in lock["differs"] and "numpy" not in lock["differs"]
    assert manifest["options"]["quantize"] == "int8" and manifest["seed"] == 0
    md = (demo_build / artifacts.PARITY_MD).read_text()
    assert md.startswith("# gelu-edge parity: PASSED") and "| min_snr_db |" in md


def test_stages_run_alone_and_report_rebuilds(cli, tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert cli("train", "--out", out, "--epochs", "3").code == 0
    r = cli("approximate", "--out", out, "--approx", "sigmoid")
    assert r.code == 0 and "replaced 1 GELU" in r.err
    assert cli("convert", "--out", out, "--quantize", "uint8").code == 0
    r = cli("parity", "--out", out, "--runtime", "litert", "--samples", "200")
    assert r.code in (0, 1), r
    parity = ParityRecord.load(out)
    assert parity.quantize == "uint8" and parity.runtime.name == "litert"
    assert parity.approx.name == "sigmoid" and parity.samples == 200
    assert parity.first.approx_metrics.max_abs_error > 0  # the sigmoid form is not exact GELU
    r = cli("report", "--out", out)
    assert r.code in (0, 1) and "verdict" in r.out
    assert (out / "parity.md").is_file() and (out / "manifest.json").is_file()


def test_a_rerun_stage_removes_the_later_stages_artifacts(cli, tmp_path: Path,
                                                          demo_build: Path) -> None:
    """Converting again makes the old parity and report describe another model: they go, the
    earlier stages' artifacts stay, and the report asks for parity first."""
    out = tmp_path / "b"
    shutil.copytree(demo_build, out)
    assert cli("convert", "--out", out, "--quantize", "uint8").code == 0
    for name in ("parity.json", "parity_samples.npz", "gelu_sites.npz", "parity.md",
                 "parity.html", "plots", "manifest.json"):
        assert not (out / name).exists(), name
    for name in ("model_float.keras", "train.json", "model_approx.keras", "approximate.json",
                 "model.tflite", "convert.json"):
        assert (out / name).exists(), name
    r = cli("report", "--out", out)
    assert r.code == 2 and "gelu-edge parity" in r.err


def test_threshold_failure_exits_1_with_report(cli, tmp_path: Path, demo_build: Path) -> None:
    out = tmp_path / "b"
    for name in (artifacts.MODEL_FLOAT, artifacts.MODEL_APPROX, artifacts.MODEL_TFLITE,
                 artifacts.TRAIN_RECORD, artifacts.APPROX_RECORD, artifacts.CONVERT_RECORD,
                 artifacts.QUANT_PLAN,
                 artifacts.LEDGER):
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes((demo_build / name).read_bytes())
    r = cli("parity", "--out", out, "--min-snr-db", "99", "--samples", "100")
    assert r.code == 1 and "min_snr_db" in r.out
    parity = ParityRecord.load(out)
    assert parity.passed is False
    assert [t for t in parity.thresholds if t.threshold == "min_snr_db"][0].limit == 99


def test_unsafe_model_is_refused(cli, tmp_path: Path) -> None:
    from pipeline.tfenv import keras

    k = keras()
    inp = k.Input((10,))
    k.Model(inp, k.layers.Dense(1)(k.layers.Dense(8, activation=lambda x: k.activations.gelu(
        x, approximate=True))(inp))).save(tmp_path / "m.keras")  # a lambda: not safe to load
    r = cli("build", "--model", tmp_path / "m.keras", "--out", tmp_path / "b")
    assert r.code == 2 and "cannot load Keras model" in r.err


def test_a_float_island_fails_an_accelerator_and_warns_on_a_cpu(cli, tmp_path: Path) -> None:
    from pipeline.tfenv import keras, tensorflow

    k, tf = keras(), tensorflow()

    @k.saving.register_keras_serializable(package="tests")
    def scaled_cube(x):
        return tf.math.pow(x, 3) * 0.1

    inp = k.Input((10,))
    k.Model(inp, k.layers.Dense(1)(k.layers.Dense(8, activation=scaled_cube)(inp))).save(
        tmp_path / "cube.keras")
    r = cli("build", "--model", tmp_path / "cube.keras", "--data", DEFAULT_DATA,
            "--out", tmp_path / "coral", "--samples", "100", "--target", "coral")
    assert r.code == 1, r
    assert "no_float_island" in r.err and "POW" in r.err
    parity = ParityRecord.load(tmp_path / "coral")
    check = [c for c in parity.checks if c.name == "no_float_island"][0]
    assert parity.passed is False and check.fails_gate and "POW" in check.message
    # On a CPU target the island runs, at a cost the check measures on the target's runtime.
    r = cli("build", "--model", tmp_path / "cube.keras", "--data", DEFAULT_DATA,
            "--out", tmp_path / "rpi", "--samples", "100", "--max-error-lsb", "1000")
    assert r.code == 0, r
    check = [c for c in ParityRecord.load(tmp_path / "rpi").checks
             if c.name == "no_float_island"][0]
    assert check.severity == "warning" and not check.fails_gate
    assert "On litert they take" in check.message and "% of an invoke" in check.message


def _run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_python_dash_m_pipeline() -> None:
    proc = _run_module("build", "--help")
    from pipeline import approximations

    assert proc.returncode == 0 and "Examples:" in proc.stdout
    text = " ".join(proc.stdout.split())
    assert all(name in text for name in approximations.names()) and "auto" in text


@pytest.mark.parametrize("args, message", [
    (["build", "--data", "/nonexistent.npz"], "not found"),
    (["build", "--approx", "nope"], "unknown GELU approximation 'nope'; choose one of: auto, lut"),
    (["build", "--target", "nope"], "unknown target 'nope'"),
    (["build", "--target", "coral", "--quantize", "dynamic"], "runs only --quantize int8 or uint8"),
    (["build", "--quantize", "int4"], "Invalid value for '--quantize'"),
    (["build", "--model", "/nonexistent.keras", "--epochs", "1"], "not found"),
    (["parity", "--out", "/nonexistent-build"], "run `gelu-edge train"),
    (["report", "--out", "/nonexistent-build"], "run `gelu-edge parity"),
    (["build", "--samples", "0"], "Invalid value for '--samples'"),
])
def test_bad_input_is_one_line_exit_2(cli, tmp_path: Path, args: list[str], message: str) -> None:
    r = cli(*args, "--out", tmp_path / "b") if "--out" not in args else cli(*args)
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gelu-edge: error:") and message in lines[0], r
    assert "Traceback" not in r.err


def test_nan_data_is_exit_2(cli, tmp_path: Path) -> None:
    arrays = dict(np.load(DEFAULT_DATA))
    arrays["x_eval"][3, 2] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    r = cli("build", "--data", tmp_path / "nan.npz", "--out", tmp_path / "b")
    assert r.code == 2 and "NaN/inf" in r.err and "x_eval" in r.err
    assert not (tmp_path / "b").exists()  # nothing written for bad input


def test_model_without_gelu_warns_and_builds(cli, tmp_path: Path) -> None:
    from pipeline.tfenv import keras

    k = keras()
    inp = k.Input((10,))
    model = k.Model(inp, k.layers.Dense(1)(k.layers.Dense(8, activation="relu")(inp)))
    model.save(tmp_path / "relu.keras")
    r = cli("build", "--model", tmp_path / "relu.keras", "--data", DEFAULT_DATA, "--out",
            tmp_path / "b", "--samples", "200",
            "--max-error-lsb", "1000")
    assert r.code == 0, r
    assert "warning:" in r.err and "no GELU found" in r.err
    assert ParityRecord.load(tmp_path / "b").approx.replaced == 0


def test_classification_model_reports_top1_agreement(cli, tmp_path: Path) -> None:
    from pipeline.tfenv import keras

    k = keras()
    k.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((900, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(np.int64) + (x[:, 2] > 0.5)
    inp = k.Input((6,))
    model = k.Model(inp, k.layers.Dense(3, activation="softmax")(
        k.layers.Dense(16, activation="gelu")(inp)))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:500], y[:500], epochs=20, verbose=0)
    model.save(tmp_path / "clf.keras")
    data = save_data(tmp_path / "clf.npz", x, y, 500, 250)
    r = cli("build", "--model", tmp_path / "clf.keras", "--data", data, "--out", tmp_path / "b",
            "--approx", "sigmoid")
    assert r.code in (0, 1), r
    parity = ParityRecord.load(tmp_path / "b")
    task = parity.first.task
    assert task.kind == "classification" and task.metric == "accuracy"
    assert 0.9 <= task.top1_agreement <= 1.0
    gate = {t.threshold for t in parity.thresholds}
    assert "min_top1_agreement" in gate


def test_coral_target_rejects_the_gelu_op(cli, tmp_path: Path) -> None:
    r = cli("build", "--target", "coral", "--approx", "lut", "--out", tmp_path / "lut",
            "--epochs", "3", "--samples", "100")
    assert r.code == 1 and "target_compatible" in r.out, r
    parity = ParityRecord.load(tmp_path / "lut")
    check = [c for c in parity.checks if c.name == "target_compatible"][0]
    assert not check.passed and "builtin op 150 (GELU)" in check.message
    assert parity.compat.compatible is False and parity.approx.auto is None
    assert "## Target compatibility: coral" in (tmp_path / "lut" / "parity.md").read_text()


def test_build_for_coral_is_edge_tpu_compatible(cli, tmp_path: Path) -> None:
    out = tmp_path / "coral"
    r = cli("build", "--target", "coral", "--out", out, "--epochs", "5", "--samples", "200")
    assert r.code == 0, r
    parity = ParityRecord.load(out)
    assert parity.compat.compatible and parity.quantize == "int8"
    assert all(v.verdict == "supported" for v in parity.compat.ops)
    auto = parity.approx.auto
    assert auto.chosen == parity.approx.name != "lut" and auto.target == "coral"
    assert "## Why this approximation" in (out / "parity.md").read_text()
    r = cli("check", out / "model.tflite", "--target", "coral")
    assert r.code == 0, r


@pytest.mark.vela
def test_build_for_ethos_u_is_all_npu(cli, tmp_path: Path) -> None:
    out = tmp_path / "ethos"
    r = cli("build", "--target", "ethos-u", "--out", out, "--epochs", "5", "--samples", "200")
    assert r.code == 0, r
    compat = ParityRecord.load(out).compat
    assert compat.compatible and compat.details["npu_percent"] == 100.0
    assert compat.details["cpu_operators"] == 0 and compat.method.startswith("vela")


def test_approximate_takes_pwl_with_a_knot_count(cli, demo_build: Path, tmp_path: Path) -> None:
    for name in ("model_float.keras", "train.json", "custody.json"):
        shutil.copy(demo_build / name, tmp_path / name)
    r = cli("approximate", "--out", tmp_path, "--approx", "pwl:5")
    assert r.code == 0, r
    approximated = ApproximateRecord.load(tmp_path)
    assert approximated.approx == "pwl:5" and approximated.auto is None


def test_an_interrupt_a_library_turned_into_its_own_error_is_still_an_interruption(
        monkeypatch, capsys) -> None:
    """Ctrl-C while a pybind11 module initialises becomes its ImportError, and Keras then says
    "you need to have `optree` installed": after a signal, the build reports the interruption
    (exit 130), not a traceback."""
    import os
    import signal

    from pipeline import cli as cli_module

    def import_interrupted(**kwargs) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)  # main() handles it: a KeyboardInterrupt here
        except KeyboardInterrupt:
            pass  # what the library does with it
        raise ImportError("To use Keras, you need to have `optree` installed")

    monkeypatch.setattr(cli_module.cli, "main", import_interrupted)
    # Python's own handler, or SIG_IGN where the tests run as a background job of a shell
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit) as exc:
        cli_module.main(["build"])
    assert exc.value.code == 130 and "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_an_error_without_a_signal_is_not_called_an_interruption(monkeypatch, capsys,
                                                                  tmp_path: Path) -> None:
    import tempfile

    from edge import exit_codes
    from pipeline import cli as cli_module

    def fails(**kwargs) -> None:
        raise ImportError("a real import error")

    monkeypatch.setattr(cli_module.cli, "main", fails)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # no build folder: the log goes here
    with pytest.raises(SystemExit) as exc:
        cli_module.main(["build"])
    err = capsys.readouterr().err
    assert exc.value.code == exit_codes.INTERNAL and "interrupted" not in err
    assert "internal error: ImportError: a real import error" in err
    assert [p.name.startswith("gelu-edge-error-") for p in tmp_path.iterdir()] == [True]
