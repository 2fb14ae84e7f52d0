"""Stage 1, train: the demo model of the classic Keras GELU example, or a copy of the user's model.

Demo: Input(10) -> Dense(64, GELU) -> Dense(1), regression on calibration_data/demo_regression.npz.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import artifacts
from pipeline.data import Dataset, check_model_input
from pipeline.models import input_shape, load_model, save_model
from pipeline.progress import Reporter
from pipeline.tfenv import keras

DEFAULT_EPOCHS = 40
DEFAULT_SEED = 0
HIDDEN_UNITS = 64
BATCH_SIZE = 64
LEARNING_RATE = 3e-3


@dataclass(frozen=True)
class TrainResult:
    """What the train stage did, saved as train.json."""

    source: str
    epochs: int
    seed: int
    eval_mae_float: float | None
    eval_mae_linear: float | None


def build_demo_model(features: int, outputs: int = 1) -> Any:
    """The classic Keras GELU example: Input(features) -> Dense(64, 'gelu') -> Dense(outputs)."""
    k = keras()
    inputs = k.Input((features,), name="x")
    hidden = k.layers.Dense(HIDDEN_UNITS, activation="gelu", name="hidden")(inputs)
    outputs_ = k.layers.Dense(outputs, name="y")(hidden)
    return k.Model(inputs, outputs_, name="gelu_demo")


def linear_fit_mae(data: Dataset) -> float:
    """Eval MAE of a least-squares linear fit on the train split: the bar the model must beat."""
    x = np.c_[data.x_train.reshape(len(data.x_train), -1), np.ones(len(data.x_train))]
    coef, *_ = np.linalg.lstsq(x, data.y_train.astype(np.float64), rcond=None)
    xe = np.c_[data.x_eval.reshape(len(data.x_eval), -1), np.ones(len(data.x_eval))]
    return float(np.mean(np.abs(xe @ coef - data.y_eval)))


def train_demo(data: Dataset, epochs: int, seed: int, reporter: Reporter) -> Any:
    """Train the demo model on the train split, deterministically for a given seed."""
    k = keras()
    k.utils.set_random_seed(seed)
    if data.task != "regression" or data.x_train.ndim != 2:
        from pipeline.errors import UserError

        raise UserError(
            f"{data.path}: the demo model is a regression on flat feature vectors; "
            "pass --model for other tasks"
        )
    model = build_demo_model(data.x_train.shape[1], data.y_train.reshape(len(data.y_train), -1).shape[1])
    model.compile(optimizer=k.optimizers.Adam(LEARNING_RATE), loss="mse")
    with reporter.task("training", epochs) as advance:
        callback = k.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: advance(1))
        model.fit(
            data.x_train, data.y_train, epochs=epochs, batch_size=BATCH_SIZE,
            shuffle=True, verbose=0, callbacks=[callback],
        )
    return model


def run(out: Path, data: Dataset, model_path: Path | None, epochs: int, seed: int,
        reporter: Reporter) -> TrainResult:
    """Write model_float.keras (trained demo, or the user's model) and train.json."""
    if model_path is None:
        model = train_demo(data, epochs, seed, reporter)
        source = "demo"
    else:
        model = load_model(model_path)
        check_model_input(data.path, data.x_eval, input_shape(model))
        source = str(model_path)
        epochs = 0
    eval_mae = eval_linear = None
    if data.task == "regression" and data.y_eval is not None:
        pred = model.predict(data.x_eval, batch_size=256, verbose=0)
        eval_mae = float(np.mean(np.abs(pred - data.y_eval.reshape(pred.shape))))
        if data.x_train is not None and data.y_train is not None and data.x_train.ndim == 2:
            eval_linear = linear_fit_mae(data)
    save_model(model, out / artifacts.MODEL_FLOAT)
    result = TrainResult(source=source, epochs=epochs, seed=seed,
                         eval_mae_float=eval_mae, eval_mae_linear=eval_linear)
    artifacts.write_json(out / artifacts.TRAIN_RECORD, asdict(result))
    if eval_mae is not None and eval_linear is not None:
        reporter.info(f"float model eval MAE {eval_mae:.4f} (linear fit {eval_linear:.4f})")
    return result
