"""`transformer`: a small transformer encoder classifier (attention, layer norm, GELU feed-forward)
on the 8x8 digits, each image read as 8 tokens of 8 features (calibration_data/digits.npz)."""

from __future__ import annotations

from typing import Any

from pipeline.presets.base import DATA_DIR, Preset
from pipeline.tfenv import keras

WIDTH = 32
HEADS = 2
FEED_FORWARD = 64
BLOCKS = 2
PIXEL_SCALE = 1 / 16  # the digits' pixels are counts 0..16


def build(sample_shape: tuple[int, ...], outputs: int) -> Any:
    """Rows -> Dense embedding + positions -> 2 pre-norm encoder blocks -> mean pool -> logits."""
    from pipeline.presets.keras_layers import IntegerLayerNorm, PositionEmbedding

    k = keras()
    inputs = k.Input(sample_shape, name="rows")
    h = k.layers.Rescaling(PIXEL_SCALE, name="scale")(inputs)
    h = k.layers.Dense(WIDTH, name="embed")(h)
    h = PositionEmbedding(name="position")(h)
    for b in range(BLOCKS):
        a = IntegerLayerNorm(name=f"block{b}_norm1")(h)
        a = k.layers.MultiHeadAttention(HEADS, WIDTH // HEADS, name=f"block{b}_attention")(a, a)
        h = k.layers.Add(name=f"block{b}_residual1")([h, a])
        f = IntegerLayerNorm(name=f"block{b}_norm2")(h)
        f = k.layers.Dense(FEED_FORWARD, activation="gelu", name=f"block{b}_ff_up")(f)
        f = k.layers.Dense(WIDTH, name=f"block{b}_ff_down")(f)
        h = k.layers.Add(name=f"block{b}_residual2")([h, f])
    h = k.layers.GlobalAveragePooling1D(name="pool")(h)
    return k.Model(inputs, k.layers.Dense(outputs, name="logits")(h), name="gelu_transformer")


PRESET = Preset(name="transformer",
                summary="transformer encoder (2 blocks, attention, layer norm, GELU FFN), "
                        "digits classification",
                data=DATA_DIR / "digits.npz", task="classification", build=build,
                epochs=40, batch_size=64, learning_rate=2e-3)
