"""What the edge runner's tests share: a tiny int8 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.progress import Quiet
    from pipeline.tfenv import keras
    from pipeline.tflite.converter import convert_model

    k = keras()
    k.utils.set_random_seed(3)
    inp = k.Input((8,))
    model = k.Model(inp, k.layers.Dense(3)(k.layers.Dense(16, activation="gelu")(inp)))
    calib = np.random.default_rng(3).standard_normal((64, 8)).astype(np.float32)
    path = tmp_path_factory.mktemp("edge") / "tiny.tflite"
    path.write_bytes(convert_model(model, "int8", calib, 1, Quiet()))
    return path
