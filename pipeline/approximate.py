"""Stage 2, approximate: find every GELU in a Keras model and replace it with an approximation.

GELU is recognised numerically, not by name: any `activation` callable on any layer, at any
nesting depth, whose output matches exact or tanh GELU on a probe grid is a site. That covers
`activation="gelu"`, `Activation` layers, Dense / Conv / EinsumDense activations, layers nested
inside other layers, and hand-written callables such as the classic tanh GELU with tf.math.pow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import approximations, artifacts
from pipeline.approximations import Approximation, gelu_exact, gelu_tanh
from pipeline.errors import CheckFailed
from pipeline.inputs import batch
from pipeline.inputs.models import load_model
from pipeline.parity import metrics
from pipeline.progress import Reporter
from pipeline.tfenv import keras

# float32 GELU implementations agree with the float64 reference to ~1e-6; the tanh form differs
# from exact GELU by at most 4.7e-4. x*sigmoid(1.702x), the closest common non-GELU, is 0.02 off.
GELU_MATCH_TOL = 2e-3
PROBE = np.linspace(-6.0, 6.0, 241, dtype=np.float32).reshape(1, -1)
# A replaced model must reproduce the in-memory model after save and reload (same float32 math).
RELOAD_TOL = 1e-5


@dataclass(frozen=True)
class Site:
    """One place in a model where GELU is computed."""

    path: str
    layer_class: str
    form: str  # "exact" or "tanh"


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


def _outputs_are_probabilities(model: Any, x: np.ndarray) -> bool:
    y = np.asarray(model.predict(x[:64], verbose=0))
    return bool(np.all(y >= 0) and np.all(y <= 1) and np.allclose(y.sum(axis=-1), 1, atol=1e-3))


def fine_tune(model: Any, ft: FineTune, reporter: Reporter) -> dict[str, Any]:
    """Fine-tune in place; the eval metric of the replaced float model before and after."""
    k = keras()
    data = ft.data
    kind = data.task

    def score() -> float:
        pred = model.predict(data.x_eval, batch_size=256, verbose=0)
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
        model.fit(data.x_train, data.y_train, epochs=ft.epochs, batch_size=FINE_TUNE_BATCH,
                  shuffle=True, verbose=0, callbacks=[callback])
    after = score()
    metric = "accuracy" if kind == "classification" else "mae"
    reporter.info(f"fine-tuned {ft.epochs} epochs: eval {metric} of the replaced float model "
                  f"{before:.4f} -> {after:.4f}")
    return {"epochs": ft.epochs, "metric": metric, "before": before, "after": after,
            "train_samples": int(len(data.x_train)), "learning_rate": FINE_TUNE_LEARNING_RATE}


def gelu_form(fn: Any) -> str | None:
    """'exact' or 'tanh' if calling `fn` on the probe grid gives GELU, else None."""
    if not callable(fn):
        return None
    k = keras()
    if fn is k.activations.linear:
        return None
    try:
        out = k.ops.convert_to_numpy(fn(k.ops.convert_to_tensor(PROBE)))
    except Exception:  # a callable that cannot take a float tensor is not an elementwise GELU
        return None
    out = np.asarray(out, dtype=np.float64)
    if out.shape != PROBE.shape or not np.all(np.isfinite(out)):
        return None
    err_exact = float(np.max(np.abs(out - gelu_exact(PROBE))))
    err_tanh = float(np.max(np.abs(out - gelu_tanh(PROBE))))
    if min(err_exact, err_tanh) > GELU_MATCH_TOL:
        return None
    return "exact" if err_exact <= err_tanh else "tanh"


def _walk(layer: Any, prefix: str) -> list[tuple[str, Any]]:
    found = []
    for child in layer._flatten_layers(include_self=False, recursive=False):
        path = f"{prefix}/{child.name}" if prefix else child.name
        found.append((path, child))
        found.extend(_walk(child, path))
    return found


# The attributes that hold an elementwise function: every layer's activation, a Lambda's function.
FUNCTION_ATTRS = {"Lambda": "function"}


def find_sites(model: Any) -> list[tuple[Site, Any]]:
    """Every (site, layer) whose `activation` (or a Lambda's function) computes GELU,
    outermost layers first."""
    sites = []
    for path, layer in _walk(model, ""):
        attr = FUNCTION_ATTRS.get(type(layer).__name__, "activation")
        form = gelu_form(getattr(layer, attr, None))
        if form is not None:
            sites.append((Site(path=f"{path}.{attr}", layer_class=type(layer).__name__,
                               form=form), layer))
    return sites


def replace_gelu(model: Any, approx: Approximation) -> list[Site]:
    """Replace every GELU site in `model` in place with `approx`; return the sites."""
    sites = find_sites(model)
    for site, layer in sites:
        setattr(layer, site.path.rsplit(".", 1)[1], approx.keras_fn)
    # Keras caches traced predict/train functions; drop them so the new activation is used.
    for attr in ("predict_function", "train_function", "test_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    return [site for site, _ in sites]


def load_replaced(path: Path, approx_name: str) -> Any:
    """Load model_approx.keras and apply the replacement again: a subclassed model that builds
    its layers in __init__ comes back from its config with the original GELU, and only its
    weights from the file. For every other model this changes nothing."""
    model = load_model(path)
    replace_gelu(model, approximations.get(approx_name))
    return model


def _check_reload(model: Any, path: Path, probe: Any, approx_name: str) -> None:
    reloaded = load_replaced(path, approx_name)
    want = np.concatenate([np.ravel(y) for y in batch.outputs(model.predict(probe, verbose=0))])
    got = np.concatenate([np.ravel(y) for y in batch.outputs(reloaded.predict(probe,
                                                                              verbose=0))])
    if not np.allclose(want, got, atol=RELOAD_TOL, rtol=0):
        raise CheckFailed(
            f"{path}: the replaced model does not reproduce itself after save and reload "
            f"(max difference {float(np.max(np.abs(want - got))):.3g}); please report this model"
        )


def run(out: Path, model_path: Path, approx_name: str, probe_x: np.ndarray,
        reporter: Reporter, tune: FineTune | None = None) -> ApproximateResult:
    """Load model_float.keras, replace GELU (and fine-tune when asked), write model_approx.keras
    and approximate.json."""
    approx = approximations.get(approx_name)
    model = load_model(model_path)
    sites = replace_gelu(model, approx)
    if not sites:
        reporter.warn(f"{model_path}: no GELU found; the model is quantized and checked as it is")
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
