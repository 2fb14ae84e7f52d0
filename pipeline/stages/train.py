"""Stage 1, train: a preset model (`--preset`: the demo MLP, or the transformer), or a copy of the
user's trained model (`--model`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline import artifacts, presets
from pipeline.context import Context
from pipeline.errors import UserError
from pipeline.inputs.data import Dataset, check_model_input
from pipeline.inputs.models import save_model
from pipeline.inputs.signature import describe
from pipeline.progress import Reporter
from pipeline.records import TrainRecord
from pipeline.tfenv import keras

DEFAULT_SEED = 0


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
    task = data.tasks[0] if data.tasks else None
    if task is None or task.name != preset.task:
        raise UserError(f"{data.path}: preset {preset.name!r} is a {preset.task} model but the "
                        f"data is {task.name if task else 'unlabelled'}; pass --model for other "
                        "tasks")
    if task.agreement is not None:  # classes: one logit per class
        outputs = int(max(data.y_train.max(), data.y_eval.max() if data.y_eval is not None
                          else 0)) + 1
    else:
        outputs = data.y_train.reshape(len(data.y_train), -1).shape[1]
    model = preset.build(tuple(data.x_train.shape[1:]), outputs)
    model.compile(optimizer=k.optimizers.Adam(preset.learning_rate), loss=task.loss(k, False))
    with reporter.task("training", epochs) as advance:
        callback = k.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: advance(1))
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=preset.batch_size,
                  shuffle=True, verbose=0, callbacks=[callback])
    return model


@dataclass(frozen=True)
class Options:
    """What the train stage takes besides the context."""

    model: Any | None = None  # the user's model, loaded (None: train the preset)
    source: str | None = None  # the user's model file, for messages and train.json
    preset: str = presets.DEFAULT
    epochs: int | None = None  # None: the preset's
    seed: int = DEFAULT_SEED


def run(ctx: Context, opts: Options, reporter: Reporter) -> TrainRecord:
    """Write model_float.keras (a trained preset, or the user's model, already loaded) and
    train.json; the model stays in the context as the float reference."""
    start = time.monotonic()
    data = ctx.data
    user_model, source, epochs, seed, preset = (opts.model, opts.source, opts.epochs, opts.seed,
                                                opts.preset)
    chosen = presets.get(preset) if user_model is None else None
    if chosen is not None:
        epochs = epochs or chosen.epochs
        model = train_preset(chosen, data, epochs, seed, reporter)
        source = "demo" if chosen.name == presets.DEFAULT else f"preset:{chosen.name}"
    else:
        model = user_model
        check_model_input(data.path, data.x_eval, describe(model))
        epochs = 0
    signature = describe(model)
    accuracy = eval_mae = eval_linear = None
    task = data.tasks[0] if len(data.tasks) == 1 and data.y_eval is not None else None
    if task is not None:  # the float figures of train.json are for one-output models
        score = task.score(data.y_eval, signature.predict(model, data.x_eval)[0])
        if task.name == "classification":
            accuracy = score
            reporter.info(f"float model eval {task.metric} {score:.4f}")
        else:
            eval_mae = score
            if isinstance(data.x_train, np.ndarray) and data.y_train is not None and \
                    data.x_train.ndim == 2:
                eval_linear = linear_fit_mae(data)
    artifacts.clear_from(ctx.out, "train")
    save_model(model, ctx.out / artifacts.MODEL_FLOAT)
    ctx.float_model = model
    record = ctx.keep(TrainRecord(
        source=str(source), epochs=epochs or 0, seed=seed, eval_mae_float=eval_mae,
        eval_mae_linear=eval_linear, preset=chosen.name if chosen else None,
        eval_accuracy_float=accuracy, parameters=int(model.count_params()),
        keras_bytes=(ctx.out / artifacts.MODEL_FLOAT).stat().st_size,
        seconds=time.monotonic() - start))
    if eval_mae is not None and eval_linear is not None:
        reporter.info(f"float model eval MAE {eval_mae:.4f} (linear fit {eval_linear:.4f})")
    return record
