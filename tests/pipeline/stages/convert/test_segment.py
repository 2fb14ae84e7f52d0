"""A coral build of a tiny transformer and a tiny CNN: the chain of Edge TPU and host segments,
each Edge TPU segment passing the static check, the chain giving model.tflite's outputs, and
--max-segments."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
from helpers import TINY_TRANSFORMER_SAMPLES, tiny_transformer

from pipeline.device import edge_client
from pipeline.progress import Quiet
from pipeline.records import ConvertRecord, ParityRecord
from pipeline.targets import coral
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph

SAMPLES = TINY_TRANSFORMER_SAMPLES


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


def test_a_transformer_for_coral_becomes_a_chain_of_segments(coral_transformer) -> None:
    _, data, out = coral_transformer
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
    # parity ran the chain on every evaluation sample against model.tflite
    assert parity.segments.chain_check.samples == parity.samples == SAMPLES
    assert parity.segments.chain_check.equal
    compat = next(c for c in parity.checks if c.name == "target_compatible")
    assert compat.passed and "each passes the static check" in compat.message
    report = (out / "parity.md").read_text()
    assert "## Edge TPU segments" in report and "not a measurement" in report
    assert "the figures above are the chain's" in report


def test_max_segments_trades_edge_tpu_work_for_fewer_transfers(cli, coral_transformer,
                                                               tmp_path) -> None:
    model, data, built = coral_transformer
    out = tmp_path / "b"
    shutil.copytree(built, out)
    result = cli("convert", "--out", out, "--data", data, "--target", "coral",
                 "--max-segments", "3")
    assert result.code in (0, 1), result
    chain = ConvertRecord.load(out).segments
    assert len(chain.segments) <= 3 and chain.max_segments == 3 and chain.chain_check.equal
    assert len(list((out / "segments").iterdir())) == len(chain.segments)
    # the same folder built for rpi: no segment is left behind from the coral build
    assert cli("build", "--model", model, "--data", data, "--out", out,
               "--min-snr-db", "0").code in (0, 1)
    assert not (out / "segments").exists()
    assert not (out / "segments.json").exists()
    assert ConvertRecord.load(out).segments is None


def test_a_cnn_for_coral_is_one_edge_tpu_segment(cli, tmp_path) -> None:
    model, data = _cnn(tmp_path)
    result = _coral(cli, model, data, tmp_path / "b")
    assert result.code in (0, 1), result
    chain = ConvertRecord.load(tmp_path / "b").segments
    assert [s.side for s in chain.segments] == ["accelerator"]
    assert chain.accelerator_mac_share == 1.0 and chain.segments[0].check == "passed"


def test_max_segments_is_for_coral_only(cli, tmp_path) -> None:
    model, data = tiny_transformer(tmp_path)
    result = cli("build", "--model", model, "--data", data, "--out", tmp_path / "b",
                 "--target", "rpi", "--max-segments", "3")
    assert result.code == 2 and "--max-segments applies to --target coral" in result.err
    assert not (tmp_path / "b").exists()


def _compiler_log(out: Path, unmapped: str | None = None) -> str:
    """What `edgetpu_compiler -s` prints for the chain's Edge TPU segments (its format; the
    compiler cannot run here), every op mapped but the first `unmapped` one."""
    chain = json.loads((out / "segments.json").read_text())
    blocks = ["Edge TPU Compiler version 16.0.384591198\nModels compiled successfully in 412 ms.\n"]
    for s in chain["segments"]:
        if s["side"] != "accelerator":
            continue
        rows = []
        for op, n in sorted(s["ops"].items()):
            status = "Mapped to Edge TPU"
            if op == unmapped:
                status, unmapped = "Operation is otherwise supported, but not mapped due to some " \
                    "unspecified limitation", None
            rows.append(f"{op:<31}{n:<11}{status}")
        blocks.append(f"Input model: {s['file']}\nInput size: 2.10KiB\n"
                      "On-chip memory used for caching model parameters: 1.25KiB\n"
                      "Off-chip memory used for streaming uncached model parameters: 0.00B\n"
                      "Number of Edge TPU subgraphs: 1\n\nOperator                       Count"
                      "      Status\n\n" + "\n".join(rows) + "\n")
    return "\n".join(blocks)


def test_a_compiler_log_is_matched_against_the_static_verdicts(cli, tmp_path,
                                                               coral_transformer) -> None:
    out = coral_transformer[2]
    good, bad, junk = tmp_path / "good.log", tmp_path / "bad.log", tmp_path / "junk.log"
    good.write_text(_compiler_log(out))
    bad.write_text(_compiler_log(out, unmapped="FULLY_CONNECTED"))
    junk.write_text("edgetpu_compiler: command not found\n")
    result = cli("check", out / "segments.json", "--target", "coral", "--compiler-log", good)
    assert result.code == 0, result
    assert "DISAGREES" not in result.out and "is cached on chip" in result.out
    result = cli("check", out / "segments.json", "--target", "coral", "--compiler-log", bad)
    assert result.code == 1
    assert re.search(r"FULLY_CONNECTED: the static check put \d+ on the Edge TPU, the compiler "
                     r"mapped 0 \(Operation is otherwise supported", result.out), result.out
    result = cli("check", out / "segments.json", "--target", "coral", "--compiler-log", junk)
    assert result.code == 2 and "command not found" in result.err
    result = cli("check", out / "segments.json", "--target", "rpi", "--compiler-log", good)
    assert result.code == 2 and "--target coral" in result.err
