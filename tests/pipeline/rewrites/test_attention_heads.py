"""attention-heads: attention one head at a time gives the same float outputs, and in int8 a
head whose scores span far more than the others' no longer costs them their precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rewrite_checks import int8_ops, max_diff

from pipeline import rewrites
from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.progress import Quiet
from pipeline.tfenv import keras
from pipeline.tflite.converter import convert_model

SAME_TOL = 1e-5  # float: the same arithmetic per head, in another order
LOUD = 20.0  # one head's queries planted this much larger than the others'
MIN_GAIN_DB = 3.0  # int8 worst output SNR, per head against one tensor for all heads
k = keras()
RNG = np.random.default_rng(0)


def _model():
    k.utils.set_random_seed(0)
    x = k.Input((8, 16), name="x")
    mask = k.Input((8,), dtype="int32", name="mask")
    att = k.layers.MultiHeadAttention(4, 4, name="mha")
    keep = k.ops.cast(mask, "bool")
    model = k.Model([x, mask], k.layers.Dense(3)(att(x, x, attention_mask=keep[:, None, :]
                                                      & keep[:, :, None])))
    kernel = att._query_dense.kernel.numpy()
    kernel[:, 0, :] *= LOUD
    att._query_dense.kernel.assign(kernel)
    return model


def _rewritten(model, names):
    opts = rewrites.Options(target="rpi")
    return rewrites.apply_all(model, rewrites.find_all(model, names, opts), opts)


def _eager(model, x):
    return np.asarray(model(x))


def test_per_head_attention_keeps_the_outputs_and_int8_gains(tmp_path: Path) -> None:
    model = _model()
    x = RNG.normal(size=(96, 8, 16)).astype("float32")
    mask = (np.arange(8)[None] < RNG.integers(3, 9, 96)[:, None]).astype("int32")
    snr, outputs = {}, {}
    for label, names in (("together", ["attention-mask"]),
                         ("apart", ["attention-mask", "attention-heads"])):
        new, undo = _rewritten(model, names)
        outputs[label] = _eager(new, [x, mask])
        if label == "apart":
            ops, floats = int8_ops(new, [x[:32], mask[:32]])
            assert ops["SOFTMAX"] == 4 and not floats, (ops, floats)
        path = tmp_path / f"{label}.tflite"
        path.write_bytes(convert_model(new, "int8", [x[:64], mask[:64]], 1, Quiet()))
        undo()
        got = edge_client.run(path, [x[64:], mask[64:]], "litert", Quiet())[0]["y0"]
        # against its own float outputs: the rewrites' int8 error alone
        snr[label] = float(metrics.worst_snr_db([outputs[label][64:]], [got]))
    # the split changes nothing in float (the bounded mask is attention-mask's, tested there)
    assert max_diff(outputs["apart"], outputs["together"]) < SAME_TOL
    assert snr["apart"] >= snr["together"] + MIN_GAIN_DB, snr
