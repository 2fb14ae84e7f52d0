"""Tiny models from the Keras ecosystem, as users bring them: keras_hub BERT, GPT-2 and ViT
backbones, Keras' own ConvNeXt at reduced depth and width, a functional model with raw
`keras.ops.gelu` nodes. Random init and a few training steps on small made-up tasks; each
returns (model, data arrays for an .npz, GELU sites it computes)."""

from __future__ import annotations

from typing import Any

import numpy as np

SEQ = 16
VOCAB = 64
SAMPLES = 256
SEED = 0


def _keras() -> Any:
    from pipeline.tfenv import keras

    return keras()


def _train(model: Any, x: Any, y: np.ndarray, loss: str = "sparse_categorical_crossentropy",
           epochs: int = 2) -> Any:
    k = _keras()
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def token_task(n: int = SAMPLES, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded sequences of token ids, their padding mask, and a label: does token 7 or 8
    occur?"""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, SEQ + 1, n)
    mask = (np.arange(SEQ)[None] < lengths[:, None]).astype("int32")
    ids = rng.integers(1, VOCAB, (n, SEQ)).astype("int32") * mask
    return ids, mask, ((ids == 7) | (ids == 8)).any(axis=1).astype("int32")


def _bert_backbone() -> Any:
    import keras_hub

    return keras_hub.models.BertBackbone(vocabulary_size=VOCAB, num_layers=2, num_heads=2,
                                         hidden_dim=16, intermediate_dim=32,
                                         max_sequence_length=SEQ, dropout=0.0)


def bert() -> tuple[Any, dict[str, np.ndarray], int]:
    """A BERT backbone nested in a functional classifier with a fixed sequence length: token,
    segment and padding-mask inputs, pooled output."""
    k = _keras()
    k.utils.set_random_seed(SEED)
    tok = k.Input((SEQ,), dtype="int32", name="token_ids")
    seg = k.Input((SEQ,), dtype="int32", name="segment_ids")
    mask = k.Input((SEQ,), dtype="int32", name="padding_mask")
    out = _bert_backbone()({"token_ids": tok, "segment_ids": seg, "padding_mask": mask})
    model = k.Model([tok, seg, mask], k.layers.Dense(2, name="logits")(out["pooled_output"]))
    ids, m, y = token_task()
    seg_ids = np.zeros_like(ids)
    _train(model, [ids, seg_ids, m], y)
    return model, {"x_token_ids": ids, "x_segment_ids": seg_ids, "x_padding_mask": m, "y": y}, 2


def bert_dict_outputs() -> tuple[Any, dict[str, np.ndarray], int]:
    """The backbone's own dict outputs (pooled and sequence) as the model's outputs."""
    k = _keras()
    k.utils.set_random_seed(SEED)
    tok = k.Input((SEQ,), dtype="int32", name="token_ids")
    seg = k.Input((SEQ,), dtype="int32", name="segment_ids")
    mask = k.Input((SEQ,), dtype="int32", name="padding_mask")
    model = k.Model([tok, seg, mask],
                    _bert_backbone()({"token_ids": tok, "segment_ids": seg,
                                      "padding_mask": mask}))
    ids, m, _ = token_task()
    return model, {"x_token_ids": ids, "x_segment_ids": np.zeros_like(ids),
                   "x_padding_mask": m}, 2


def bert_classifier() -> tuple[Any, dict[str, np.ndarray], int]:
    """keras_hub's BertTextClassifier task model: dict inputs, open sequence length."""
    import keras_hub

    k = _keras()
    k.utils.set_random_seed(SEED)
    model = keras_hub.models.BertTextClassifier(_bert_backbone(), num_classes=2,
                                                preprocessor=None, dropout=0.0)
    ids, m, y = token_task()
    seg_ids = np.zeros_like(ids)
    _train(model, {"token_ids": ids, "segment_ids": seg_ids, "padding_mask": m}, y)
    return model, {"x_token_ids": ids, "x_segment_ids": seg_ids, "x_padding_mask": m, "y": y}, 2


def gpt2() -> tuple[Any, dict[str, np.ndarray], int]:
    """A GPT-2 backbone (tanh GELU) with a next-token head."""
    import keras_hub

    k = _keras()
    k.utils.set_random_seed(SEED)
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=VOCAB, num_layers=2, num_heads=2,
                                             hidden_dim=16, intermediate_dim=32,
                                             max_sequence_length=SEQ, dropout=0.0)
    tok = k.Input((SEQ,), dtype="int32", name="token_ids")
    mask = k.Input((SEQ,), dtype="int32", name="padding_mask")
    h = backbone({"token_ids": tok, "padding_mask": mask})
    model = k.Model([tok, mask], k.layers.Dense(VOCAB, name="next_token")(h))
    ids, m, _ = token_task()
    _train(model, [ids, m], np.roll(ids, -1, axis=1))
    return model, {"x_token_ids": ids, "x_padding_mask": m}, 2


def vit() -> tuple[Any, dict[str, np.ndarray], int]:
    """A ViT backbone on 16x16 images, class token -> 3 classes."""
    import keras_hub

    k = _keras()
    k.utils.set_random_seed(SEED)
    backbone = keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=4, num_layers=2,
                                            num_heads=2, hidden_dim=16, mlp_dim=32)
    inp = k.Input((16, 16, 3), name="pixels")
    model = k.Model(inp, k.layers.Dense(3, name="logits")(backbone(inp)[:, 0]))
    rng = np.random.default_rng(SEED)
    x = rng.uniform(0, 1, (SAMPLES, 16, 16, 3)).astype("float32")
    y = ((x[..., 0].mean(axis=(1, 2)) > 0.5).astype("int32")
         + (x[..., 1].mean(axis=(1, 2)) > 0.5)).astype("int32")
    _train(model, x, y)
    return model, {"x": x, "y": y}, 2


def convnext() -> tuple[Any, dict[str, np.ndarray], int]:
    """Keras' ConvNeXt at depth 1 per stage and 8-32 channels: Conv2D(groups=C) depthwise
    convolutions, layer norm, GELU Activation layers."""
    from keras.src.applications.convnext import ConvNeXt

    k = _keras()
    k.utils.set_random_seed(SEED)
    model = ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[8, 16, 24, 32],
                     input_shape=(32, 32, 3), include_top=True, classes=3,
                     classifier_activation=None, weights=None, include_preprocessing=False,
                     name="convnext_test")
    rng = np.random.default_rng(SEED)
    x = rng.uniform(0, 1, (SAMPLES, 32, 32, 3)).astype("float32")
    y = ((x[..., 0].mean(axis=(1, 2)) > 0.5).astype("int32")
         + (x[..., 2].mean(axis=(1, 2)) > 0.5)).astype("int32")
    _train(model, x, y)
    return model, {"x": x, "y": y}, 4


def raw_ops() -> tuple[Any, dict[str, np.ndarray], int]:
    """GELU as raw graph nodes, as keras-cv-attention-models writes "gelu/app"."""
    k = _keras()
    k.utils.set_random_seed(SEED)
    x_in = k.Input((8,), name="x")
    h = k.ops.gelu(k.layers.Dense(16, name="d1")(x_in))
    h = k.activations.gelu(k.layers.Dense(16, name="d2")(h), approximate=True)
    model = k.Model(x_in, k.layers.Dense(1, name="y")(h))
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(SAMPLES, 8)).astype("float32")
    y = np.sin(x).sum(axis=1, keepdims=True).astype("float32")
    _train(model, x, y, loss="mse")
    return model, {"x": x, "y": y}, 2


def masked_pooling() -> tuple[Any, dict[str, np.ndarray], int]:
    """Token embeddings, a GELU Dense, masked GlobalAveragePooling1D (an int8 DIV)."""
    k = _keras()
    k.utils.set_random_seed(SEED)
    tok = k.Input((SEQ,), dtype="int32", name="token_ids")
    mask = k.Input((SEQ,), dtype="int32", name="padding_mask")
    h = k.layers.Dense(16, activation="gelu", name="ffn")(
        k.layers.Embedding(VOCAB, 16, name="embed")(tok))
    pooled = k.layers.GlobalAveragePooling1D(name="pool")(h, mask=k.ops.cast(mask, "bool"))
    model = k.Model([tok, mask], k.layers.Dense(2, name="logits")(pooled))
    ids, m, y = token_task()
    _train(model, [ids, m], y)
    return model, {"x_token_ids": ids, "x_padding_mask": m, "y": y}, 1


ZOO = {f.__name__: f for f in (bert, bert_dict_outputs, bert_classifier, gpt2, vit, convnext,
                               raw_ops, masked_pooling)}
