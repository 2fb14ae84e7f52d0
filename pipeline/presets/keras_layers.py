"""Layers of the presets, registered with Keras (package `gelu_edge`) so their models save and
load by name."""

from __future__ import annotations

from typing import Any

from pipeline.tfenv import keras

k = keras()


@k.saving.register_keras_serializable(package="gelu_edge")
class IntegerLayerNorm(k.layers.Layer):
    """Layer normalization written so that it converts to integer TFLite ops.

    Keras' LayerNormalization lowers to a NEG that int8 TFLite has no kernel for, so the
    converter leaves a float DEQUANTIZE/NEG/QUANTIZE island per layer norm. Centering with a
    SUB instead keeps every op int8: MEAN, SUB, MUL, MEAN, ADD, RSQRT, MUL, MUL, ADD.
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.gamma = self.add_weight(shape=input_shape[-1:], initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=input_shape[-1:], initializer="zeros", name="beta")

    def call(self, x: Any) -> Any:
        ops = k.ops
        centered = ops.subtract(x, ops.mean(x, axis=-1, keepdims=True))
        variance = ops.mean(ops.multiply(centered, centered), axis=-1, keepdims=True)
        return centered * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


@k.saving.register_keras_serializable(package="gelu_edge")
class PositionEmbedding(k.layers.Layer):
    """A learned position embedding added to the token embeddings (one ADD in TFLite)."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.position = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros",
                                        name="position")

    def call(self, x: Any) -> Any:
        return x + self.position
