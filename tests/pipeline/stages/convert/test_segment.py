"""A coral build of a tiny transformer and a tiny CNN: the chain of Edge TPU and host segments,
each Edge TPU segment passing the static check, the chain giving model.tflite's outputs, and
--max-segments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.device import edge_client
from pipeline.progress import Quiet
from pipeline.records import ConvertRecord, ParityRecord
from pipeline.targets import coral
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph

SAMPLES = 48


def _transformer(folder: Path) -> tuple[Path, Path]:
    k = keras()
    inp = k.Input((6, 16), name="x")
    x = k.layers.LayerNormalization(name="ln")(inp + k.layers.MultiHeadAttention(
        2, 8, name="mha")(inp, inp))
    y = k.layers.Dense(4, name="out")(k.layers.Dense(32, activation="gelu", name="up")(x))
    k.Model(inp, y).save(folder / "t.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "t.npz", x=rng.normal(size=(SAMPLES, 6, 16)).astype(np.float32))
    return folder / "t.keras", folder / "t.npz"


def _cnn(folder: Path) -> tuple[Path, Path]:
    k = keras()
    model = k.Sequential([k.Input((8, 8, 3)), k.layers.Conv2D(8, 3, activation="gelu"),
                          k.layers.GlobalAveragePooling2D(), k.layers.Dense(4)])
    model.save(folder / "c.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "c.npz", x=rng.normal(size=(SAMPLES, 8, 8, 3)).astype(np.float32))
    return folder / "c.keras", folder / "c.npz"


def _coral(cli, model: Path, data: Path, out: Path, *extra: str):
    return cli("build", "--model", model, "--data", data, "--out", out, "--target", "coral",
               "--min-snr-db", "0", *extra)


def test_a_transformer_for_coral_becomes_a_chain_of_segments(cli, tmp_path) -> None:
    model, data = _transformer(tmp_path)
    result = _coral(cli, model, data, tmp_path / "b")
    out = tmp_path / "b"
    assert result.code in (0, 1), result
    chain = ConvertRecord.load(out).segments
    assert chain is not None and chain.chain_check is not None and chain.chain_check.equal
    sides = [s.side for s in chain.segments]
    assert all(a != b for a, b in zip(sides, sides[1:]))  # runs alternate
    whole = tflite_graph.read(out / "model.tflite")
    assert sum(sum(s.ops.values()) for s in chain.segments) == len(whole.ops)
    for s in chain.segments:
        graph = tflite_graph.read(out / s.file)
        if s.side == "accelerator":
            assert s.check == "passed", s
            assert all(coral.tpu_op(graph, op)[0] for op in graph.ops)
            assert coral.check(out / s.file, graph).compatible
        else:
            assert s.host_reasons and all(op in s.ops for op in s.host_reasons)
    # every tensor crossing a cut keeps its int8 quantization
    assert all(t.dtype in ("INT8", "UINT8", "INT32") for t in chain.boundary)
    assert all(t.scale for t in chain.boundary if t.dtype == "INT8")
    assert 0.5 < chain.accelerator_mac_share < 1.0 and chain.estimate_ms > 0
    assert chain.compile_command.startswith("edgetpu_compiler -s -o edgetpu segments/")
    # edge's chain runner on every sample gives model.tflite's output codes exactly
    x = np.load(data)["x"]
    whole_run, _ = edge_client.run(out / "model.tflite", x, "tflite-runtime", Quiet())
    chained = edge_client.chain(out / "segments.json", x, "tflite-runtime", Quiet())
    np.testing.assert_array_equal(whole_run["y_raw"], chained["y_raw"])
    assert json.loads((out / "segments.json").read_text())["segments"][0]["file"] == \
        chain.segments[0].file
    parity = ParityRecord.load(out)
    compat = next(c for c in parity.checks if c.name == "target_compatible")
    assert compat.passed and "each passes the static check" in compat.message
    report = (out / "parity.md").read_text()
    assert "## Edge TPU segments" in report and "not a measurement" in report


def test_max_segments_trades_edge_tpu_work_for_fewer_transfers(cli, tmp_path) -> None:
    model, data = _transformer(tmp_path)
    result = _coral(cli, model, data, tmp_path / "b", "--max-segments", "3")
    assert result.code in (0, 1), result
    chain = ConvertRecord.load(tmp_path / "b").segments
    assert len(chain.segments) <= 3 and chain.max_segments == 3 and chain.chain_check.equal


def test_a_cnn_for_coral_is_one_edge_tpu_segment(cli, tmp_path) -> None:
    model, data = _cnn(tmp_path)
    result = _coral(cli, model, data, tmp_path / "b")
    assert result.code in (0, 1), result
    chain = ConvertRecord.load(tmp_path / "b").segments
    assert [s.side for s in chain.segments] == ["accelerator"]
    assert chain.accelerator_mac_share == 1.0 and chain.segments[0].check == "passed"


def test_max_segments_is_for_coral_only(cli, tmp_path) -> None:
    model, data = _transformer(tmp_path)
    result = cli("build", "--model", model, "--data", data, "--out", tmp_path / "b",
                 "--target", "rpi", "--max-segments", "3")
    assert result.code == 2 and "--max-segments applies to --target coral" in result.err
    assert not (tmp_path / "b").exists()
