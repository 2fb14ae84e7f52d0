"""Stage 1, train: a preset model (`--preset`: the demo MLP, or the transformer), or a copy of the
user's trained model (`--model`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import artifacts, presets
from pipeline.errors import UserError
from pipeline.inputs.data import Dataset, check_model_input
from pipeline.inputs.models import load_model, save_model
from pipeline.inputs.signature import describe
from pipeline.parity import metrics
from pipeline.progress import Reporter
from pipeline.tfenv import keras

DEFAULT_SEED = 0


@dataclass(frozen=True)
class TrainResult:
    """What the train stage did, saved as train.json."""

    source: str
    epochs: int
    seed: int
    eval_mae_float: float | None
    eval_mae_linear: float | None
    preset: str | None = None
    eval_accuracy_float: float | None = None
    parameters: int = 0
    keras_bytes: int = 0  # size of model_float.keras


def linear_fit_mae(data: Dataset) -> float:
    """Eval MAE of a least-squares linear fit on the train split: the bar the model must beat."""
    x = np.c_[data.x_train.reshape(len(data.x_train), -1), np.ones(len(data.x_train))]
    coef, *_ = np.linalg.lstsq(x, data.y_train.astype(np.float64), rcond=None)
    xe = np.c_[data.x_eval.reshape(len(data.x_eval), -1), np.ones(len(data.x_eval))]
    return float(np.mean(np.abs(xe @ coef - data.y_eval)))


def train_preset(preset: presets.Preset, data: Dataset, epochs: int, seed: int,
                 reporter: Reporter) -> Any:
    """Build and train a preset on the train split, deterministically for a given seed."""
    k = keras()
    k.utils.set_random_seed(seed)
    if data.x_train is None or data.y_train is None:
        raise UserError(f"{data.path}: preset {preset.name!r} trains on x_train/y_train")
    if data.task != preset.task:
        raise UserError(f"{data.path}: preset {preset.name!r} is a {preset.task} model but the "
                        f"data is {data.task}; pass --model for other tasks")
    if preset.task == "classification":
        outputs = int(max(data.y_train.max(), data.y_eval.max() if data.y_eval is not None
                          else 0)) + 1
        loss = k.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        outputs = data.y_train.reshape(len(data.y_train), -1).shape[1]
        loss = k.losses.MeanSquaredError()
    model = preset.build(tuple(data.x_train.shape[1:]), outputs)
    model.compile(optimizer=k.optimizers.Adam(preset.learning_rate), loss=loss)
    with reporter.task("training", epochs) as advance:
        callback = k.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: advance(1))
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=preset.batch_size,
                  shuffle=True, verbose=0, callbacks=[callback])
    return model


def run(out: Path, data: Dataset, model_path: Path | None, epochs: int | None, seed: int,
        reporter: Reporter, preset: str = presets.DEFAULT) -> TrainResult:
    """Write model_float.keras (a trained preset, or the user's model) and train.json."""
    chosen = presets.get(preset) if model_path is None else None
    if chosen is not None:
        epochs = epochs or chosen.epochs
        model = train_preset(chosen, data, epochs, seed, reporter)
        source = "demo" if chosen.name == presets.DEFAULT else f"preset:{chosen.name}"
    else:
        model = load_model(model_path)
        check_model_input(data.path, data.x_eval, describe(model))
        source = str(model_path)
        epochs = 0
    signature = describe(model)
    accuracy = None
    single = len(data.tasks) == 1  # the float figures of train.json are for one-output models
    if single and data.task == "classification" and data.y_eval is not None:
        accuracy = metrics.task_metric("classification", data.y_eval,
                                       signature.predict(model, data.x_eval)[0])
        reporter.info(f"float model eval accuracy {accuracy:.4f}")
    eval_mae = eval_linear = None
    if single and data.task == "regression" and data.y_eval is not None:
        pred = signature.predict(model, data.x_eval)[0]
        eval_mae = float(np.mean(np.abs(pred - data.y_eval.reshape(pred.shape))))
        if isinstance(data.x_train, np.ndarray) and data.y_train is not None and \
                data.x_train.ndim == 2:
            eval_linear = linear_fit_mae(data)
    artifacts.clear_from(out, "train")
    save_model(model, out / artifacts.MODEL_FLOAT)
    result = TrainResult(source=source, epochs=epochs or 0, seed=seed,
                         eval_mae_float=eval_mae, eval_mae_linear=eval_linear,
                         preset=chosen.name if chosen else None, eval_accuracy_float=accuracy,
                         parameters=int(model.count_params()),
                         keras_bytes=(out / artifacts.MODEL_FLOAT).stat().st_size)
    artifacts.write_json(out / artifacts.TRAIN_RECORD, asdict(result))
    if eval_mae is not None and eval_linear is not None:
        reporter.info(f"float model eval MAE {eval_mae:.4f} (linear fit {eval_linear:.4f})")
    return result
