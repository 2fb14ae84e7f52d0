"""stream-scale: a post-LN transformer chain (keras_hub TransformerEncoder) with planted outlier
dimensions in its residual stream keeps its float outputs, and all-int8 its error drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rewrite_checks import max_diff, post_ln_chain

from pipeline import rewrites
from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.progress import Quiet
from pipeline.rewrites import stream_scale
from pipeline.tflite.converter import convert_model

# Float: the folded weights and the weighted statistics, against the outputs' largest magnitude.
FLOAT_REL_TOL = {"rpi": 1e-5,
                 # the Edge TPU form normalises by L2_NORMALIZATION, without layer norm's
                 # epsilon (as the layer-norm rewrite's form): 1e-3 here, Keras' default
                 "coral": 3e-3}
OUTLIER_DIMS = [3, 11]
# All-int8 on LiteRT, the worst output SNR with the stream scaled against without: at least
# this many dB better (measured 9.8 -> 18.0 dB on the seeded model).
MIN_GAIN_DB = 6.0


def _samples() -> np.ndarray:
    """The same 64 inputs for every test, whatever ran before."""
    return np.random.default_rng(0).normal(size=(64, 6, 16)).astype("float32")


def _eager(model: object, x: np.ndarray) -> np.ndarray:
    """One eager call: predict() keeps a traced function from before a rewrite swapped a class."""
    return np.asarray(model(x))


def _apply(model: object, x: np.ndarray, target: str = "rpi") -> tuple[object, list, object]:
    opts = rewrites.Options(target=target, run=lambda m: m(x[:32]))
    found = rewrites.find_all(model, ["layer-norm", "stream-scale"], opts)
    new, undo = rewrites.apply_all(model, found, opts)
    return new, found["stream-scale"], undo


@pytest.mark.parametrize("target", ["rpi", "coral"])  # RSQRT, or the Edge TPU's L2_NORMALIZATION
def test_the_stream_is_scaled_and_the_float_outputs_stay(target: str) -> None:
    model = post_ln_chain(OUTLIER_DIMS)
    x = _samples()
    before = _eager(model, x)
    new, matches, undo = _apply(model, x, target)
    assert [m.path.split("/")[-1] for m in matches][0] == "emb_ln" and len(matches) == 5
    # the outlier dimensions, and only they, are divided down; the last layer norm keeps 1
    first = matches[0].extra["scale"]
    assert set(np.flatnonzero(first > 2)) == set(OUTLIER_DIMS)
    assert np.all(matches[-1].extra["scale"] == 1)
    after = _eager(new, x)
    assert max_diff(after, before) <= FLOAT_REL_TOL[target] * np.abs(before).max()
    undo()
    assert max_diff(_eager(model, x), before) == 0.0
    # fitted again from the saved vectors (a reload): the same matches
    again = stream_scale.find(model, rewrites.Options(
        target=target, fitted=stream_scale.scales_of(matches)))
    assert all(np.array_equal(a.extra["scale"], b.extra["scale"])
               for a, b in zip(again, matches))


def _int8_snr(model: object, x: np.ndarray, reference: np.ndarray, tmp: Path) -> float:
    path = tmp / "m.tflite"
    path.write_bytes(convert_model(model, "int8", x[:32], 1, Quiet()))
    got = edge_client.run(path, x[32:], "litert", Quiet())[0]["y0"]
    return float(metrics.worst_snr_db([reference], [got]))


def test_all_int8_the_outliers_stop_costing_the_other_dimensions(tmp_path) -> None:
    model = post_ln_chain(OUTLIER_DIMS)
    x = _samples()
    reference = _eager(model, x[32:])
    opts = rewrites.Options(target="rpi")
    plain, undo_plain = rewrites.apply_all(model, rewrites.find_all(model, ["layer-norm"], opts),
                                           opts)
    without = _int8_snr(plain, x, reference, tmp_path)
    undo_plain()
    new, _, undo = _apply(model, x)
    with_scale = _int8_snr(new, x, reference, tmp_path)
    undo()
    assert with_scale >= without + MIN_GAIN_DB, (without, with_scale)
