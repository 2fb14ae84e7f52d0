"""Index inputs: ids outside the embedding they feed, and labels that do not fit the output, are
refused before any work, in one line naming the array, the value and the limit (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.inputs import tables
from pipeline.inputs.signature import describe
from pipeline.tfenv import keras

ROWS = 10  # the tiny model's vocabulary
SEQ = 6
SAMPLES = 32
SEED = 0


def _model(tmp_path: Path) -> Path:
    """ids -> Embedding(ROWS) -> mean -> Dense(1), and a float input beside it."""
    k = keras()
    ids = k.Input((SEQ,), dtype="int32", name="ids")
    scale = k.Input((1,), name="scale")
    pooled = k.layers.GlobalAveragePooling1D()(k.layers.Embedding(ROWS, 4, name="vocab")(ids))
    out = k.layers.Dense(1, activation="gelu", name="out")(
        k.layers.Concatenate()([pooled, scale]))
    path = tmp_path / "m.keras"
    k.Model([ids, scale], out).save(path)
    return path


def _data(tmp_path: Path, ids: np.ndarray | None = None, y: np.ndarray | None = None,
          name: str = "d.npz") -> Path:
    rng = np.random.default_rng(SEED)
    good = rng.integers(0, ROWS, (SAMPLES, SEQ)).astype("int32")
    path = tmp_path / name
    np.savez(path, x_ids=good if ids is None else ids,
             x_scale=rng.normal(size=(SAMPLES, 1)).astype("float32"),
             y=rng.normal(size=(SAMPLES, 1)).astype("float32") if y is None else y)
    return path


def _with(value: int) -> np.ndarray:
    ids = np.random.default_rng(SEED).integers(0, ROWS, (SAMPLES, SEQ)).astype("int64")
    ids[3, 2] = value
    return ids


def test_tables_found_through_nested_and_sequential_models() -> None:
    k = keras()
    seq = k.Sequential([k.Input((SEQ,), dtype="int32"), k.layers.Embedding(ROWS, 4),
                        k.layers.Flatten(), k.layers.Dense(1)])
    assert [(t.input_index, t.rows) for t in tables.find(seq, describe(seq))] == [(0, ROWS)]
    tok = k.Input((SEQ,), dtype="int32", name="tok")
    inner = k.Model(tok, k.layers.Embedding(ROWS, 4, name="emb")(tok), name="inner")
    outer_in = k.Input((SEQ,), dtype="int32", name="ids")
    outer = k.Model(outer_in, inner(outer_in))
    assert tables.find(outer, describe(outer)) == [tables.Table(0, "inner/emb", ROWS)]


def test_ids_changed_on_the_way_get_no_check() -> None:
    """An id shifted before the lookup: the table does not bound the input, so no check."""
    k = keras()
    ids = k.Input((SEQ,), dtype="int32")
    model = k.Model(ids, k.layers.Embedding(ROWS, 4)(ids + 5))
    assert tables.find(model, describe(model)) == []


@pytest.mark.parametrize("value", [1_000_000, ROWS, -1])
def test_id_outside_the_table_in_data_is_refused(cli, tmp_path: Path, value: int) -> None:
    r = cli("build", "--model", _model(tmp_path), "--data", _data(tmp_path, _with(value)),
            "--out", tmp_path / "b")
    assert r.code == 2, r
    line = r.err.strip().splitlines()[-1]
    assert "'x_ids'" in line and f"id {value}" in line and f"{ROWS} rows" in line, line
    assert "Traceback" not in r.err and not (tmp_path / "b" / "model_float.keras").exists()


def test_id_outside_the_table_in_calibration_is_refused(cli, tmp_path: Path) -> None:
    calib = tmp_path / "c.npz"
    np.savez(calib, x_ids=_with(ROWS + 3),
             x_scale=np.zeros((SAMPLES, 1), np.float32))
    r = cli("build", "--model", _model(tmp_path), "--data", _data(tmp_path),
            "--calibration", calib, "--out", tmp_path / "b")
    assert r.code == 2, r
    line = r.err.strip().splitlines()[-1]
    assert str(calib) in line and f"id {ROWS + 3}" in line and "'x_ids'" in line, line


def test_labels_wider_than_the_output_are_refused(cli, tmp_path: Path) -> None:
    y = np.zeros((SAMPLES, 3), np.float32)
    r = cli("build", "--model", _model(tmp_path), "--data", _data(tmp_path, y=y),
            "--out", tmp_path / "b")
    assert r.code == 2, r
    line = r.err.strip().splitlines()[-1]
    assert "'y'" in line and "(3,)" in line and "(1,)" in line, line


def _bert_classifier(rows: int, positions: int):
    import keras_hub  # in the lock (the hub extra): present wherever the tests run

    backbone = keras_hub.models.BertBackbone(vocabulary_size=rows, num_layers=1, num_heads=2,
                                             hidden_dim=8, intermediate_dim=16,
                                             max_sequence_length=positions, dropout=0.0)
    return keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None,
                                               dropout=0.0)


def test_keras_hub_bert_tables_and_positions() -> None:
    """Dict inputs, a nested backbone, ReversibleEmbedding, PositionEmbedding on its output."""
    model = _bert_classifier(ROWS * 100, SEQ)
    found = {(describe(model).input_names[t.input_index], t.kind): (t.layer, t.rows)
             for t in tables.find(model, describe(model))}
    assert found == {("token_ids", tables.IDS): ("bert_backbone/token_embedding", ROWS * 100),
                     ("token_ids", tables.POSITIONS): ("bert_backbone/position_embedding", SEQ),
                     ("segment_ids", tables.IDS): ("bert_backbone/segment_embedding", 2)}


def test_keras_hub_token_and_position_embedding() -> None:
    import keras_hub  # in the lock (the hub extra): present wherever the tests run

    k = keras()
    ids = k.Input((None,), dtype="int32", name="ids")
    emb = keras_hub.layers.TokenAndPositionEmbedding(ROWS, SEQ, 4, name="tpe")(ids)
    model = k.Model(ids, k.layers.Dense(1)(emb))
    assert tables.find(model, describe(model)) == [
        tables.Table(0, "tpe", ROWS), tables.Table(0, "tpe", SEQ, tables.POSITIONS)]


def test_sequences_longer_than_the_position_table_are_refused(tmp_path: Path) -> None:
    from pipeline.errors import UserError
    from pipeline.inputs.data import load_for_model

    model = _bert_classifier(ROWS, SEQ)
    long = SEQ + 4
    path = tmp_path / "d.npz"
    np.savez(path, x_token_ids=np.ones((SAMPLES, long), "int32"),
             x_segment_ids=np.zeros((SAMPLES, long), "int32"),
             x_padding_mask=np.ones((SAMPLES, long), "int32"))
    with pytest.raises(UserError, match=f"sequences of {long} tokens.*{SEQ} positions"):
        load_for_model(path, None, model)
