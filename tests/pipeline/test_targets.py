"""Target checks against the real tools (issue #4's cases): models are built here, tiny, with the
real converter; rpi and litert load them in the real runtimes; ethos-u runs the real Vela."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO

from pipeline import approximations, targets
from pipeline.check import check_model
from pipeline.progress import Quiet
from pipeline.targets.coral import parse_compiler_log
from pipeline.tfenv import keras, tensorflow
from pipeline.tflite.converter import convert_model

FEATURES = 64  # large enough that dynamic range quantizes the weights (FULLY_CONNECTED v12)
CALIB_SAMPLES = 64


def _rounded_tanh_gelu(x):  # the anchors' hand-written form: rounded constants keep POW
    tf = tensorflow()
    return 0.5 * x * (1.0 + tf.tanh(0.7978 * (x + 0.0447 * tf.math.pow(x, 3))))


def _abs(x):
    return tensorflow().abs(x)


def _mlp(activation) -> object:
    k = keras()
    inp = k.Input((FEATURES,))
    hidden = k.layers.Dense(FEATURES, activation=activation, name="hidden")(inp)
    return k.Model(inp, k.layers.Dense(4)(hidden))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> .tflite path for every case of the issue's definition of done."""
    folder = tmp_path_factory.mktemp("target-models")
    x = np.random.default_rng(0).normal(size=(CALIB_SAMPLES, FEATURES)).astype(np.float32)
    cases = {
        "gelu_int8": ("gelu", "int8"),
        "sigmoid_int8": (approximations.get("sigmoid").keras_fn, "int8"),
        "pow_int8": (_rounded_tanh_gelu, "int8"),
        "abs_int8": (_abs, "int8"),
        "float": ("gelu", "none"),
        "dynamic": ("gelu", "dynamic"),
    }
    paths = {}
    for name, (activation, mode) in cases.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(convert_model(_mlp(activation), mode, x, 1, Quiet()))
    k = keras()
    conv = k.Sequential([k.Input((4, 4, 3)), k.layers.Conv2D(4, 3, padding="same")])
    paths["conv_batch2"] = folder / "conv_batch2.tflite"
    paths["conv_batch2"].write_bytes(convert_model(
        conv, "int8", np.random.default_rng(1).normal(size=(8, 4, 4, 3)).astype(np.float32), 2,
        Quiet()))
    return paths


def _verdicts(compat) -> dict[str, str]:
    return {v.op: v.verdict for v in compat.ops}


def _rule(compat, name: str):
    return next(r for r in compat.rules if r.name == name)


def test_stock_gelu_is_rejected_by_coral_and_accepted_by_rpi(models) -> None:
    coral = check_model(models["gelu_int8"], "coral")
    assert not coral.compatible and _verdicts(coral)["GELU"] == targets.UNSUPPORTED
    assert "Op builtin_code out of range: 150" in coral.summary
    assert coral.details["compiler_rejects_model"] and coral.method == "static"
    rpi = check_model(models["gelu_int8"], "rpi")
    assert rpi.compatible and _rule(rpi, "runtime_load").passed, rpi.model_dump()


def test_sigmoid_form_is_accepted_by_coral(models) -> None:
    coral = check_model(models["sigmoid_int8"], "coral")
    assert coral.compatible, coral.model_dump()
    assert coral.details["ops_on_cpu"] == 0


@pytest.mark.vela
def test_pow_island_is_rejected_where_full_integer_is_required(models) -> None:
    for name in ("coral", "ethos-u"):
        compat = check_model(models["pow_int8"], name)
        assert not compat.compatible and not _rule(compat, "full_integer").passed, name
    vela = check_model(models["pow_int8"], "ethos-u")
    on_cpu = {v.op for v in vela.ops if v.verdict == targets.CPU}
    assert on_cpu == {"POW", "DEQUANTIZE", "QUANTIZE"}, vela.model_dump()
    assert all("Vela" in v.reason for v in vela.ops)
    assert vela.details["cpu_operators"] == 3 and vela.details["cycles_total"] > 0


def test_abs_is_rejected_by_coral(models) -> None:
    coral = check_model(models["abs_int8"], "coral")
    assert not coral.compatible and _verdicts(coral)["ABS"] == targets.CPU
    assert coral.details["first_unsupported"]["op"] == "ABS"
    assert coral.details["ops_on_cpu"] == 2 and not coral.details["compiler_rejects_model"]


@pytest.mark.vela
def test_float_model_is_rejected_by_accelerators(models) -> None:
    for name in ("coral", "ethos-u"):
        compat = check_model(models["float"], name)
        assert not compat.compatible and not _rule(compat, "full_integer").passed, name


def test_dynamic_range_is_rejected_by_tflite_runtime_and_accepted_by_litert(models) -> None:
    rpi = check_model(models["dynamic"], "rpi", "tflite-runtime")
    assert not rpi.compatible and not _rule(rpi, "min_runtime_version").passed
    load = _rule(rpi, "runtime_load")
    assert not load.passed and "'FULLY_CONNECTED' version '12'" in load.message
    fc = next(v for v in rpi.ops if v.op == "FULLY_CONNECTED")
    assert fc.version == 12 and fc.verdict == targets.UNSUPPORTED
    for name in ("litert", "rpi"):  # rpi's runtime is LiteRT
        litert = check_model(models["dynamic"], name)
        assert litert.compatible and _rule(litert, "runtime_load").passed, litert.model_dump()


def test_coral_shape_rules(models) -> None:
    coral = check_model(models["conv_batch2"], "coral")
    assert not _rule(coral, "static_batch_one").passed
    assert not _rule(coral, "max_dims_over_one").passed  # [2, 4, 4, 4]
    assert all(v.verdict == targets.SUPPORTED for v in coral.ops)


@pytest.mark.vela
def test_every_target_accepts_a_plain_int8_relu_model(tmp_path: Path) -> None:
    model = tmp_path / "relu.tflite"
    x = np.random.default_rng(2).normal(size=(CALIB_SAMPLES, FEATURES)).astype(np.float32)
    model.write_bytes(convert_model(_mlp("relu"), "int8", x, 1, Quiet()))
    for name in targets.names():
        assert check_model(model, name).compatible, name


def test_edgetpu_compiler_log_is_parsed() -> None:
    log = "\n".join([
        "Number of operations that will run on Edge TPU: 3",
        "Number of operations that will run on CPU: 1", "",
        "Operator                       Count      Status", "",
        "FULLY_CONNECTED                2          Mapped to Edge TPU",
        "QUANTIZE                       1          Mapped to Edge TPU",
        "QUANTIZE                       1          Operation is otherwise supported, but not "
        "mapped due to some unspecified limitation",
    ])
    rule, placement = parse_compiler_log(0, log)
    assert not rule.passed and "1 operations run on the CPU" in rule.message
    assert [v for _, v, _ in placement["QUANTIZE"]] == [targets.SUPPORTED, targets.CPU]
    rule, placement = parse_compiler_log(1, "Edge TPU Compiler version 16\n"
                                            "ERROR: Op builtin_code out of range: 150.")
    assert not rule.passed and "out of range: 150" in rule.message and placement == {}


def test_check_command_exit_codes_and_json(cli, models, tmp_path: Path) -> None:
    r = cli("check", models["sigmoid_int8"], "--target", "coral", "--json")
    assert r.code == 0, r
    data = json.loads(r.out)
    assert data["compatible"] and data["target"] == "coral"
    assert {"op", "version", "count", "verdict", "reason"} <= set(data["ops"][0])
    r = cli("check", models["gelu_int8"], "--target", "coral")
    assert r.code == 1 and "GELU v2" in r.out and "NOT compatible" in r.out, r


@pytest.mark.parametrize("content, args, message", [
    (b"not a model at all", ["--target", "rpi"], "is not a TFLite flatbuffer"),
    (b"\x00" * 4 + b"TFL3" + b"\xff" * 40, ["--target", "rpi"], "damaged TFLite flatbuffer"),
    (None, ["--target", "nope"], "unknown target 'nope'"),
    (None, ["--target", "ethos-u:ethos-u99"], "unknown Ethos-U config"),
])
def test_check_bad_input_is_one_line_exit_2(cli, models, tmp_path: Path, content, args,
                                            message: str) -> None:
    path = models["gelu_int8"]
    if content is not None:
        path = tmp_path / "bad.tflite"
        path.write_bytes(content)
    r = cli("check", path, *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r


def test_targets_command_lists_every_target(cli) -> None:
    r = cli("targets", "--json")
    assert r.code == 0, r
    rows = {row["name"]: row for row in json.loads(r.out)}
    assert set(rows) == set(targets.names())
    assert rows["coral"]["quantize_modes"] == ["int8", "uint8"] and rows["coral"]["accelerator"]
    assert rows["rpi"]["runtime"] == "litert"


def test_check_imports_no_tensorflow(models) -> None:
    """`check` runs on every commit: it reads the flatbuffer with ai-edge-litert's schema and
    loads the model in a runtime process, with no TensorFlow or Keras in its own process."""
    code = ("import sys\nfrom pipeline.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print(code, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, "check", str(models["gelu_int8"]),
                           "--target", "rpi"], cwd=REPO, capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stdout + proc.stderr
