"""Stage 2, approximate: find every GELU in a Keras model and replace it with an approximation
(how GELU is found: `pipeline.rewrites.gelu`), fine-tune when asked, save and check the reload."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import approximations, artifacts
from pipeline.approximations import Approximation
from pipeline.errors import CheckFailed
from pipeline.inputs import batch
from pipeline.inputs.models import load_model
from pipeline.inputs.signature import describe
from pipeline.parity import metrics
from pipeline.progress import Reporter
from pipeline.rewrites import gelu
from pipeline.rewrites.gelu import Site
from pipeline.tfenv import keras

# Samples one eager call of the model runs on, to see which GELU functions are computed.
PROBE_SAMPLES = 2
# A replaced model must reproduce the in-memory model after save and reload (same float32 math).
RELOAD_TOL = 1e-5


@dataclass(frozen=True)
class ApproximateResult:
    """What the approximate stage did, saved as approximate.json."""

    approx: str
    replaced: int
    sites: list[Site]
    fine_tune: dict[str, Any] | None = None


@dataclass(frozen=True)
class FineTune:
    """`--fine-tune-epochs`: brief training of the replaced float model on the labelled data."""

    epochs: int
    data: Any  # pipeline.data.Dataset with x_train/y_train and x_eval/y_eval


FINE_TUNE_LEARNING_RATE = 3e-4  # small: the weights are already trained, only nudged
FINE_TUNE_BATCH = 64


def _outputs_are_probabilities(model: Any, x: batch.Inputs) -> bool:
    y = describe(model).predict(model, batch.take(x, slice(0, 64)))[0]
    return bool(np.all(y >= 0) and np.all(y <= 1) and np.allclose(y.sum(axis=-1), 1, atol=1e-3))


def fine_tune(model: Any, ft: FineTune, reporter: Reporter) -> dict[str, Any]:
    """Fine-tune in place; the eval metric of the replaced float model before and after."""
    k = keras()
    data = ft.data
    kind = data.task
    signature = describe(model)

    def score() -> float:
        pred = signature.predict(model, data.x_eval)[0]
        return metrics.task_metric(kind, data.y_eval, pred)

    before = score()
    if kind == "classification":
        loss = k.losses.SparseCategoricalCrossentropy(
            from_logits=not _outputs_are_probabilities(model, data.x_train))
    else:
        loss = k.losses.MeanSquaredError()
    model.compile(optimizer=k.optimizers.Adam(FINE_TUNE_LEARNING_RATE), loss=loss)
    with reporter.task("fine-tuning", ft.epochs) as advance:
        callback = k.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: advance(1))
        model.fit(signature.pack(data.x_train), data.y_train, epochs=ft.epochs,
                  batch_size=FINE_TUNE_BATCH,
                  shuffle=True, verbose=0, callbacks=[callback])
    after = score()
    metric = "accuracy" if kind == "classification" else "mae"
    reporter.info(f"fine-tuned {ft.epochs} epochs: eval {metric} of the replaced float model "
                  f"{before:.4f} -> {after:.4f}")
    return {"epochs": ft.epochs, "metric": metric, "before": before, "after": after,
            "train_samples": batch.count(data.x_train), "learning_rate": FINE_TUNE_LEARNING_RATE}


def replace_gelu(model: Any, approx: Approximation, probe: batch.Inputs | None = None
                 ) -> tuple[Any, list[Site]]:
    """Replace every GELU of `model` with `approx`; return the model (rebuilt when raw graph
    operations were replaced) and the sites. `probe` (a sample or two) tells computed GELUs
    from attributes that only configure an inner layer; without it every GELU attribute counts."""
    run = None
    if probe is not None:
        signature = describe(model)
        run = lambda m: signature.call(m, probe)  # noqa: E731
    found = gelu.find(model, run)
    return gelu.replace(model, approx, found), found.sites


def load_replaced(path: Path, approx_name: str) -> Any:
    """Load model_approx.keras and apply the replacement again: a subclassed model or a custom
    layer that builds its layers in __init__ or build() comes back from its config with the
    original GELU, and only its weights from the file. For every other model this changes
    nothing."""
    model, _ = replace_gelu(load_model(path), approximations.get(approx_name))
    return model


def _check_reload(model: Any, path: Path, probe: Any, approx_name: str) -> None:
    reloaded = load_replaced(path, approx_name)
    signature = describe(model)
    want = np.concatenate([np.ravel(y) for y in signature.predict(model, probe)])
    got = np.concatenate([np.ravel(y) for y in signature.predict(reloaded, probe)])
    if not np.allclose(want, got, atol=RELOAD_TOL, rtol=0):
        raise CheckFailed(
            f"{path}: the replaced model does not reproduce itself after save and reload "
            f"(max difference {float(np.max(np.abs(want - got))):.3g}); please report this model"
        )


def run(out: Path, model_path: Path, approx_name: str, probe_x: batch.Inputs,
        reporter: Reporter, tune: FineTune | None = None, source: str | None = None
        ) -> ApproximateResult:
    """Load model_float.keras, replace GELU (and fine-tune when asked), write model_approx.keras
    and approximate.json. `source` names the model in messages (the user's file)."""
    approx = approximations.get(approx_name)
    model = load_model(model_path)
    probe = batch.take(probe_x, slice(0, PROBE_SAMPLES))
    model, sites = replace_gelu(model, approx, probe)
    if not sites:
        reporter.warn(f"{source or model_path}: no GELU found; the model is quantized and "
                      "checked as it is")
    else:
        forms = ", ".join(sorted({s.form for s in sites}))
        reporter.info(f"replaced {len(sites)} GELU site(s) ({forms}) with {approx.name!r}")
    tuned = fine_tune(model, tune, reporter) if tune is not None and tune.epochs > 0 else None
    artifacts.clear_from(out, "approximate", keep=(artifacts.APPROX_CHOICE,))
    # Checked before the rename, so a model that does not reload never lands under its final name.
    with artifacts.atomic_path(out / artifacts.MODEL_APPROX) as tmp:
        model.save(tmp)
        _check_reload(model, tmp, batch.take(probe_x, slice(0, 16)), approx.name)
    result = ApproximateResult(approx=approx.name, replaced=len(sites), sites=sites,
                               fine_tune=tuned)
    artifacts.write_json(out / artifacts.APPROX_RECORD,
                         {**asdict(result), "sites": [asdict(s) for s in sites]})
    return result
