"""Attention's matmuls split per head: exact in float, and with one head's scores planted far
larger than the other's, the int8 error of the split model drops against one scale per tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import tiny_transformer

from pipeline.device import edge_client
from pipeline.gate import metrics
from pipeline.inputs.models import load_model
from pipeline.progress import Quiet
from pipeline.tflite import attention, hybrid
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model

# Splitting is exact: the float outputs agree to float32 rounding.
SPLIT_FLOAT_TOL = 1e-5
# With head 0's queries 30x larger, one int8 scale per tensor leaves head 1's scores a handful
# of levels; scales per head must win back at least this much output SNR.
PER_HEAD_GAIN_DB = 3.0
PLANTED = 30.0


def _float_model(tmp_path: Path, plant: bool) -> tuple[bytes, np.ndarray]:
    model_path, data_path = tiny_transformer(tmp_path)
    model = load_model(model_path)
    if plant:
        query = model.get_layer("mha")._query_dense
        kernel, bias = query.get_weights()
        kernel[:, 0, :] *= PLANTED
        query.set_weights([kernel, bias])
    x = np.load(data_path)["x"]
    return convert_model(model, "none", x, 1, Quiet()), x


def _run(tmp_path: Path, data: bytes, x: np.ndarray) -> np.ndarray:
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    return edge_client.run(path, x, "litert", Quiet())[0]["y0"]


def test_splitting_per_head_is_exact_in_float(tmp_path: Path) -> None:
    data, x = _float_model(tmp_path, plant=False)
    split = attention.split_per_head(data)
    before, after = tflite_graph.parse(data).op_counts(), tflite_graph.parse(split).op_counts()
    assert before["BATCH_MATMUL"] == 2 and after["BATCH_MATMUL"] == 2 * 2  # two heads
    assert after["SPLIT"] == 4 and after["CONCATENATION"] == before.get("CONCATENATION", 0) + 2
    np.testing.assert_allclose(_run(tmp_path, split, x), _run(tmp_path, data, x),
                               atol=SPLIT_FLOAT_TOL, rtol=SPLIT_FLOAT_TOL)


def test_a_head_with_large_scores_no_longer_costs_the_others(tmp_path: Path) -> None:
    data, x = _float_model(tmp_path, plant=True)
    reference = _run(tmp_path, data, x)
    recipe = hybrid.static_recipe(("BATCH_MATMUL",))
    per_tensor = hybrid.quantize(data, recipe, attention.ranges(data, x, symmetric_rhs=True))
    split = attention.split_per_head(data)
    per_head = hybrid.quantize(split, recipe, attention.ranges(split, x, symmetric_rhs=True))
    snr_tensor = metrics.worst_snr_db([reference], [_run(tmp_path, per_tensor, x)])
    snr_head = metrics.worst_snr_db([reference], [_run(tmp_path, per_head, x)])
    assert snr_head >= snr_tensor + PER_HEAD_GAIN_DB, (snr_tensor, snr_head)
