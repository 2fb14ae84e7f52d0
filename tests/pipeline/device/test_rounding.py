"""Replaying an int8 FULLY_CONNECTED in integer arithmetic once per rounding mode: the
multipliers TFLite derives from the scales, each mode on ties it rounds its own way, and a tiny
real model whose first FULLY_CONNECTED, traced on this machine's runtimes, one mode reproduces
bit for bit."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from components import unavailable

from edge import runtimes
from edge.kernels import OPTIMIZED
from pipeline.device.divergence import localise
from pipeline.device.edge_client import LOCAL
from pipeline.device.edge_session import Staged, Trace, trace
from pipeline.device.rounding import (
    AWAY_TWICE,
    MODES,
    UP_ONCE,
    UP_TWICE,
    explain,
    quantize_multiplier,
    replay,
)
from pipeline.progress import Quiet
from pipeline.tfenv import keras
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model

TIMEOUT_S = 120.0
POOL = 2048  # candidate inputs, of which a few make the modes' outputs differ
# Measured on x86_64 (the traced output of the tiny model's first FULLY_CONNECTED, on samples
# where the three modes disagree): tflite-runtime 2.14's optimized kernels round ties toward
# +infinity twice (as NEON's SQRDMULH then SRSHL do; its reference kernels round ties away from
# zero), LiteRT 2.x's round once (TFLITE_SINGLE_ROUNDING, its reference kernels too).
MEASURED = {("tflite-runtime", "x86_64"): UP_TWICE, ("litert", "x86_64"): UP_ONCE}


@pytest.mark.parametrize("real, expected", [
    (0.5, (1 << 30, 0)),
    (0.25, (1 << 30, 1)),
    (0.75, (3 << 29, 0)),
    (1 / 3, (1431655765, 1)),  # round(2^32 / 3)
    (0.5 + 2.0**-32, ((1 << 30) + 1, 0)),  # 2^30 + 0.5 exactly: a tie, away from zero (not even)
    (1 - 2.0**-40, (1 << 30, -1)),  # the significand rounds up to 2^31: halved, shift one less
    (2.0**-40, (0, 0)),  # below 2^-31: zero, as TFLite does
    (0.0, (0, 0)),
])
def test_quantize_multiplier_as_tflite_does(real: float, expected: tuple[int, int]) -> None:
    assert quantize_multiplier(real) == expected


def _apply(mode: str, acc: int, multiplier: int, shift: int) -> int:
    product = np.array([acc], np.int64) * np.int64(multiplier)
    return int(MODES[mode](product, np.array([shift], np.int64))[0])


@pytest.mark.parametrize("acc, multiplier, shift, away, up, once", [
    # acc x 0.25 = -0.5, a tie at the shift: away from zero -1, toward +infinity 0.
    (-2, 1 << 30, 1, -1, 0, 0),
    # acc x 0.25 = +0.5: every mode rounds a positive tie up.
    (2, 1 << 30, 1, 1, 1, 1),
    # 0.25: the doubling high mul rounds 0.5 up to 1 first, then 1 / 2 is a tie rounded up again;
    # rounded once, 0.25 is 0.
    (1, 1 << 30, 1, 1, 1, 0),
    # -1.5 with no shift: gemmlowp's high mul rounds this tie toward +infinity too (as SQRDMULH).
    (-3, 1 << 30, 0, -1, -1, -1),
    # -0.75: the high mul makes it -1 (x 2^-1), a tie at the shift: away from zero -1, toward
    # +infinity 0 (rounded twice, off by one); rounded once, -1.
    (-3, 1 << 30, 1, -1, 0, -1),
    # Not a tie: 0.375 x 3 = 1.125, every mode gives 1.
    (3, 3 << 29, 1, 1, 1, 1),
])
def test_each_mode_rounds_ties_as_its_docstring_says(acc: int, multiplier: int, shift: int,
                                                     away: int, up: int, once: int) -> None:
    got = {m: _apply(m, acc, multiplier, shift) for m in MODES}
    assert got == {AWAY_TWICE: away, UP_TWICE: up, UP_ONCE: once}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, list[int]]:
    """Input(16) -> Dense(8) -> Dense(4, relu) -> tanh, full int8 with per-channel weights; a
    pool of float inputs; and samples of it on which, between them, every two modes give
    different outputs of the first FULLY_CONNECTED (replayed on the quantized inputs)."""
    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((16,))
    hidden = k.layers.Dense(8, name="a")(inp)  # no ReLU: it would clamp the negative ties away
    out = k.layers.Activation("tanh", name="squash")(
        k.layers.Dense(4, activation="relu", name="b")(hidden))
    model = k.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(POOL, 16)).astype(np.float32)
    path = tmp_path_factory.mktemp("rounding") / "tiny.tflite"
    path.write_bytes(convert_model(model, "int8", x[:256], 1, Quiet()))
    graph = tflite_graph.read(path)
    t_in = graph.tensors[graph.inputs[0]]
    assert graph.ops[0].name == "FULLY_CONNECTED" and graph.ops[0].inputs[0] == graph.inputs[0]
    q = np.clip(np.round(x.astype(np.float64) / t_in.scale) + t_in.zero_point, -128, 127)
    found = replay(path, 0, q.astype(np.int8))
    assert found is not None
    pairs, chosen = set(combinations(MODES, 2)), []
    for i in range(POOL):
        split = {(a, b) for a, b in pairs if not np.array_equal(found[a][i], found[b][i])}
        if split:
            chosen.append(i)
            pairs -= split
    assert not pairs, f"no input among {POOL} tells {pairs} apart"
    return path, x, chosen


def _traces(path: Path, x: np.ndarray, samples: list[int], runtime: str) -> list[Trace]:
    graph = tflite_graph.read(path)
    indices = sorted({t for op in graph.ops for t in op.outputs} | set(graph.inputs))
    with LOCAL.session(Quiet()) as session:
        staged = Staged.stage(session, path, "this machine")
        return [trace(staged, x[i:i + 1], runtime, indices, [OPTIMIZED], TIMEOUT_S, "a test")[0]
                for i in samples]


@pytest.mark.parametrize("runtime", list(runtimes.RUNTIMES))
def test_one_mode_reproduces_this_machines_fully_connected(tiny, runtime: str) -> None:
    if runtime not in runtimes.installed():
        unavailable(f"{runtime} is not installed here")
    path, x, chosen = tiny
    graph = tflite_graph.read(path)
    fcs = [i for i, op in enumerate(graph.ops) if op.name == "FULLY_CONNECTED"]
    assert len(fcs) == 2
    matched: dict[int, list[set[str]]] = {i: [] for i in fcs}
    for t in _traces(path, x, chosen, runtime):
        for i in fcs:  # the second with its fused ReLU
            op = graph.ops[i]
            found = replay(path, i, t.tensors[op.inputs[0]])
            assert found is not None
            raw = t.tensors[op.outputs[0]].reshape(-1)
            modes = {m for m, values in found.items() if np.array_equal(values.reshape(-1), raw)}
            assert modes, f"no mode gives {runtime}'s output of op {i}"
            matched[i].append(modes)
    # Between them the samples tell every two modes apart on the first FULLY_CONNECTED: one
    # mode, the same on all of them, and it gives the second's output too.
    (mode,) = set.intersection(*matched[fcs[0]])
    assert all(mode in modes for modes in matched[fcs[1]])
    expected = MEASURED.get((runtime, t.about["machine"]))
    if expected is not None:
        assert mode == expected


def test_explain_covers_fully_connected_only(tiny) -> None:
    path, _, _ = tiny
    graph = tflite_graph.read(path)
    tanh = next(i for i, op in enumerate(graph.ops) if op.name == "TANH")
    x = np.zeros((1, 4), np.int8)
    assert explain(path, tanh, x, x, x) is None
    assert explain(path, len(graph.ops), x, x, x) is None
    assert replay(path.read_bytes(), 0, np.zeros((1, 16), np.int8)) is not None  # bytes too


def test_a_device_that_rounds_otherwise_is_explained(tiny) -> None:
    """This machine's trace against a device's that differs only in the first op's rounding
    (another mode's output put in its place): localised there, and both sides' modes named."""
    if "litert" not in runtimes.installed():
        unavailable("litert is not installed here")
    path, x, chosen = tiny
    graph = tflite_graph.read(path)
    op = graph.ops[0]
    host = _traces(path, x, chosen[:1], "litert")[0]
    found = replay(path, 0, host.tensors[op.inputs[0]])
    assert found is not None
    raw = host.tensors[op.outputs[0]]
    ours = [m for m, v in found.items() if np.array_equal(v.reshape(-1), raw.reshape(-1))]
    other = next(m for m, v in found.items() if not np.array_equal(v.reshape(-1), raw.reshape(-1)))
    device = Trace({**host.tensors, op.outputs[0]: found[other].astype(np.int8).reshape(raw.shape)},
                   host.outputs, host.aliases, {"machine": "aarch64"})
    d = localise(graph, chosen[0], device, host, device.outputs, host.outputs, None, None,
                 model=path)
    assert d.first is not None and d.first.op_index == 0
    assert d.rounding is not None and d.rounding.device == [m for m in MODES
                                                            if np.array_equal(found[m],
                                                                              found[other])]
    assert d.rounding.host == ours and other not in ours
    assert "compute it alike but for how the requantization rounds" in d.verdict

    # The device's output one code off a value no mode gives: no claim about the device.
    odd = device.tensors[op.outputs[0]].copy()
    odd.reshape(-1)[0] += 3
    device.tensors[op.outputs[0]] = odd
    d = localise(graph, chosen[0], device, host, device.outputs, host.outputs, None, None,
                 model=path)
    assert d.rounding is not None and d.rounding.device == [] and d.rounding.host == ours
    assert "some other way" in d.verdict and "alike" not in d.verdict
