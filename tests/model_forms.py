"""The forms of Keras model users write, tiny and untrained (the matrix checks that every form
builds, not accuracy): Sequential with and without an `Input`, saved as .keras and legacy
.h5, a Sequential CNN, Sequential nested in a functional model and the reverse, functional,
a subclassed model and a custom layer (from `user_layers.py`, passed with
`--custom-objects`), and a keras_hub backbone. GELU is written as an `activation=` argument,
as an `Activation` layer and, where the form allows code (functional graphs, `call()`), as a
raw `keras.ops.gelu` call. Each form says how many GELU sites it really computes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

USER_LAYERS = Path(__file__).resolve().parent / "user_layers.py"
FEATURES = 12
IMAGE = (8, 8, 4)
SAMPLES = 64
SEED = 0


@dataclass(frozen=True)
class Form:
    """A way of writing a model: how to make it, its file suffix, and its true GELU count."""

    name: str
    make: Callable[[], Any]
    sites: int
    suffix: str = ".keras"
    image: bool = False
    custom: bool = False  # needs --custom-objects user_layers.py
    hub: bool = False  # needs keras_hub
    finds: tuple[tuple[str, int], ...] = ()  # matches of the other rewrites; 0 for the rest


def _k() -> Any:
    from pipeline.tfenv import keras

    k = keras()
    k.utils.set_random_seed(SEED)
    return k


def _layers() -> Any:
    return _k().layers


def _user(name: str) -> Any:
    from pipeline.inputs.models import import_custom_objects

    import_custom_objects(USER_LAYERS)
    return _k().saving.get_registered_object(f"forms>{name}")


def sequential() -> Any:
    L = _layers()
    return _k().Sequential([_k().Input((FEATURES,)), L.Dense(16, activation="gelu"),
                            L.LayerNormalization(), L.Activation("gelu"), L.Dense(1)])


def sequential_without_input() -> Any:
    """Built by `fit`, as most users build it."""
    L = _layers()
    model = _k().Sequential([L.Dense(16, activation="gelu"), L.Activation("gelu"), L.Dense(1)])
    x, y = regression()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x[:32], y[:32], epochs=1, verbose=0)
    return model


def sequential_cnn() -> Any:
    """Conv2D with a GELU activation, a grouped (depthwise) Conv2D, an Activation layer."""
    L = _layers()
    return _k().Sequential([_k().Input(IMAGE), L.Conv2D(8, 3, activation="gelu"),
                            L.Conv2D(8, 3, groups=8), L.Activation("gelu"),
                            L.GlobalAveragePooling2D(), L.Dense(1)])


def sequential_in_functional() -> Any:
    k, L = _k(), _layers()
    block = k.Sequential([L.Dense(16, activation="gelu"), L.Activation("gelu")], name="block")
    x = k.Input((FEATURES,), name="x")
    h = k.ops.gelu(L.Dense(16)(block(x)))
    return k.Model(x, L.Dense(1)(h))


def functional_in_sequential() -> Any:
    k, L = _k(), _layers()
    x = k.Input((FEATURES,))
    inner = k.Model(x, k.ops.gelu(L.Dense(16, activation="gelu")(x)), name="inner")
    return k.Sequential([k.Input((FEATURES,)), inner, L.Activation("gelu"), L.Dense(1)])


def functional() -> Any:
    k, L = _k(), _layers()
    x = k.Input((FEATURES,), name="x")
    h = L.Activation("gelu")(L.Dense(16, activation="gelu")(x))
    h = k.ops.gelu(L.Dense(16)(L.LayerNormalization()(h)))
    return k.Model(x, L.Dense(1)(h))


def subclassed() -> Any:
    model = _user("GeluNet")()
    model(np.zeros((1, FEATURES), "float32"))
    return model


def subclassed_without_config() -> Any:
    model = _user("PlainNet")()
    model(np.zeros((1, FEATURES), "float32"))
    return model


def custom_layer() -> Any:
    k, L = _k(), _layers()
    x = k.Input((FEATURES,), name="x")
    h = L.Activation("gelu")(_user("GeluBlock")(name="block")(x))
    return k.Model(x, L.Dense(1)(h))


def keras_hub_backbone() -> Any:
    """keras_hub's BERT backbone in a functional model over float embeddings is not a user form;
    token ids are: the backbone nested in a functional classifier."""
    import keras_hub

    k, L = _k(), _layers()
    seq = 8
    backbone = keras_hub.models.BertBackbone(vocabulary_size=32, num_layers=1, num_heads=2,
                                             hidden_dim=8, intermediate_dim=16,
                                             max_sequence_length=seq, dropout=0.0)
    tok = k.Input((seq,), dtype="int32", name="token_ids")
    seg = k.Input((seq,), dtype="int32", name="segment_ids")
    mask = k.Input((seq,), dtype="int32", name="padding_mask")
    out = backbone({"token_ids": tok, "segment_ids": seg, "padding_mask": mask})
    return k.Model([tok, seg, mask], L.Dense(2)(out["pooled_output"]))


FORMS = {f.name: f for f in (
    Form("sequential", sequential, 2, finds=(("layer-norm", 1),)),
    Form("sequential_h5", sequential, 2, suffix=".h5", finds=(("layer-norm", 1),)),
    Form("sequential_without_input", sequential_without_input, 2),
    Form("sequential_cnn", sequential_cnn, 2, image=True, finds=(("grouped-conv", 1),)),
    Form("sequential_in_functional", sequential_in_functional, 3),
    Form("functional_in_sequential", functional_in_sequential, 3),
    Form("functional", functional, 3, finds=(("layer-norm", 1),)),
    Form("subclassed", subclassed, 3, custom=True, finds=(("layer-norm", 1),)),
    Form("subclassed_without_config", subclassed_without_config, 2, custom=True),
    Form("custom_layer", custom_layer, 3, custom=True),
    Form("keras_hub_backbone", keras_hub_backbone, 1, hub=True,
         finds=(("layer-norm", 3), ("attention-mask", 1), ("attention-heads", 1),
                ("stream-scale", 3))),
)}


def regression(n: int = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    return x, np.sin(x[:, :3]).sum(axis=1, keepdims=True).astype("float32")


def data(form: Form) -> dict[str, np.ndarray]:
    """The form's data in the project's x/y layout (calibration comes from x too)."""
    rng = np.random.default_rng(SEED)
    if form.hub:
        ids = rng.integers(1, 32, (SAMPLES, 8)).astype("int32")
        return {"x_token_ids": ids, "x_segment_ids": np.zeros_like(ids),
                "x_padding_mask": np.ones_like(ids)}
    if form.image:
        x = rng.normal(size=(SAMPLES, *IMAGE)).astype("float32")
        return {"x": x, "y": x.mean(axis=(1, 2, 3))[:, None]}
    x, y = regression()
    return {"x": x, "y": y}


def probe(form: Form, data_path: Path, n: int = 2) -> Any:
    """The first `n` samples of a form's data, as the model takes them."""
    arrays = np.load(data_path)
    if form.hub:
        return [arrays[f"x_{name}"][:n] for name in ("token_ids", "segment_ids", "padding_mask")]
    return arrays["x"][:n]


def save(form: Form, folder: Path) -> tuple[Path, Path]:
    """(model file, data file) of a form, written into `folder`."""
    model_path = folder / f"{form.name}{form.suffix}"
    form.make().save(model_path)
    data_path = folder / f"{form.name}.npz"
    np.savez(data_path, **data(form))
    return model_path, data_path
