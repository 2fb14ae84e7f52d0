"""Stage 2, approximate: choose the GELU approximation (`--approx auto` decides here), replace
every GELU of the float model with it (how GELU is found: `pipeline.rewrites.gelu`), fine-tune
when asked, save model_approx.keras and check that it reloads to the same outputs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import approximations, artifacts, rewrites, targets
from pipeline.approximations import Approximation
from pipeline.approximations import auto as approx_auto
from pipeline.context import Context
from pipeline.errors import CheckFailed, UserError
from pipeline.inputs import batch
from pipeline.inputs.data import Dataset
from pipeline.inputs.signature import describe
from pipeline.progress import Reporter
from pipeline.records import ApproximateRecord, FineTune, Site
from pipeline.records.approximate import RewriteSite
from pipeline.rewrites import gelu, stream_scale
from pipeline.tfenv import keras
from pipeline.tflite import placement

# Samples one eager call of the model runs on, to see which GELU functions are computed.
PROBE_SAMPLES = 2
# Samples the saved model must reproduce after reloading.
RELOAD_SAMPLES = 16
# A replaced model must reproduce the in-memory model after save and reload (same float32 math).
RELOAD_TOL = 1e-5
FINE_TUNE_LEARNING_RATE = 3e-4  # small: the weights are already trained, only nudged
FINE_TUNE_BATCH = 64


@dataclass(frozen=True)
class Options:
    """What the approximate stage takes besides the context."""

    approx: str = approx_auto.AUTO  # a variant, or auto (chosen for target and runtime)
    target: str = "rpi"
    runtime: str | None = None
    fine_tune_epochs: int = 0
    source: str | None = None  # the user's model file, for messages
    rewrites: str = "all"  # --rewrites: all, none, a list, all,-name
    mode: str = "int8"  # --quantize: the placement depends on it
    integer_only: bool = False  # --integer-only: every op int8 on a CPU target too


def check_options(opts: Options, data: Dataset) -> None:
    """Refuse, before any work, what this stage would refuse later."""
    if opts.approx != approx_auto.AUTO:
        approximations.get(opts.approx, also=(approx_auto.AUTO,))
    rewrites.parse(opts.rewrites)
    if opts.integer_only and opts.mode not in placement.INTEGER_MODES:
        raise UserError(f"--integer-only makes every op int8: it goes with --quantize "
                        f"{' or '.join(placement.INTEGER_MODES)}, not {opts.mode}")
    if opts.fine_tune_epochs:
        if data.x_train is None or data.y_train is None:
            raise UserError("--fine-tune-epochs needs --data with labels (x and y)")
        if len(data.tasks) > 1:
            raise UserError("--fine-tune-epochs supports models with one output for now")


def _outputs_are_probabilities(model: Any, x: batch.Inputs) -> bool:
    y = describe(model).predict(model, batch.take(x, slice(0, 64)))[0]
    return bool(np.all(y >= 0) and np.all(y <= 1) and np.allclose(y.sum(axis=-1), 1, atol=1e-3))


def fine_tune(model: Any, data: Dataset, epochs: int, reporter: Reporter) -> FineTune:
    """Fine-tune in place; the eval metric of the replaced float model before and after."""
    k = keras()
    task = data.tasks[0]
    signature = describe(model)

    def score() -> float:
        return task.score(data.y_eval, signature.predict(model, data.x_eval)[0])

    before = score()
    model.compile(optimizer=k.optimizers.Adam(FINE_TUNE_LEARNING_RATE),
                  loss=task.loss(k, _outputs_are_probabilities(model, data.x_train)))
    with reporter.task("fine-tuning", epochs) as advance:
        callback = k.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: advance(1))
        model.fit(signature.pack(data.x_train), data.y_train, epochs=epochs,
                  batch_size=FINE_TUNE_BATCH, shuffle=True, verbose=0, callbacks=[callback])
    after = score()
    reporter.info(f"fine-tuned {epochs} epochs: eval {task.metric} of the replaced float model "
                  f"{before:.4f} -> {after:.4f}")
    return FineTune(epochs=epochs, metric=task.metric, before=before, after=after,
                    train_samples=batch.count(data.x_train),
                    learning_rate=FINE_TUNE_LEARNING_RATE)


def replace_gelu(model: Any, approx: Approximation, probe: batch.Inputs | None = None
                 ) -> tuple[Any, list[Site]]:
    """Replace every GELU of `model` with `approx` for good; return the model (rebuilt when raw
    graph operations were replaced) and the sites. `probe` (a sample or two) tells computed
    GELUs from attributes that only configure an inner layer; without it every GELU attribute
    counts."""
    found = _find(model, probe)
    replaced, _ = gelu.replace(model, approx, found)
    return replaced, found.sites


def _find(model: Any, probe: batch.Inputs | None) -> gelu.Found:
    run = None
    if probe is not None:
        signature = describe(model)
        run = lambda m: signature.call(m, probe)  # noqa: E731
    return gelu.find(model, run)


def _outputs(model: Any, x: batch.Inputs) -> np.ndarray:
    """The model's outputs on a few samples, one eager call (predict would trace a function
    first: 2.5 s for MiniLM on 16 samples, against under 1 s)."""
    return np.concatenate([np.ravel(np.asarray(y)) for y in describe(model).call(model, x)])


def _rewrite_sites(reference: Any, found: dict[str, list[rewrites.Match]],
                   probe: batch.Inputs) -> list[RewriteSite]:
    """Each rewrite site with its float error, measured on the reference as it is."""
    signature = describe(reference)
    sites = []
    for name, matches in found.items():
        errors = rewrites.site_errors(reference, matches, lambda m: signature.call(m, probe))
        sites += [RewriteSite(rewrite=name, path=m.path, layer_class=type(m.target).__name__,
                              detail=m.detail, float_max_abs=err[0], float_max_rel=err[1])
                  for m, err in zip(matches, errors)]
    return sites


def load_rewritten(path: Path, record: ApproximateRecord) -> Any:
    """model_approx.keras with every rewrite of its record applied again."""
    return rewrites.load(path, record)


def run(ctx: Context, opts: Options, reporter: Reporter) -> ApproximateRecord:
    """Replace GELU and apply the other rewrites to the float reference (left as it was
    afterwards), write model_approx.keras and approximate.json; the reloaded model stays in
    the context."""
    start = time.monotonic()
    choice = None
    name = opts.approx
    chosen = rewrites.parse(opts.rewrites)
    reference = ctx.reference()
    where = placement.decide(reference, opts.mode, targets.get(opts.target).accelerator,
                             opts.integer_only)
    if name == approx_auto.AUTO:
        choice = approx_auto.choose(opts.target, opts.runtime, reporter,
                                    "float" if where.kind == placement.MATMULS else "int8")
        reporter.info(f"--approx auto: {choice.reason}")
        name = choice.chosen
    approx = approximations.get(name)
    probe = batch.take(ctx.data.x_eval, slice(0, RELOAD_SAMPLES))
    small = batch.take(probe, slice(0, PROBE_SAMPLES))
    gelus = _find(reference, small) if rewrites.GELU in chosen else gelu.Found([], [], [])
    sites = gelus.sites
    if rewrites.GELU not in chosen:
        reporter.info("GELU left as it is (--rewrites without gelu)")
    elif not sites:
        reporter.warn(f"{opts.source or ctx.out / artifacts.MODEL_FLOAT}: no GELU found; the "
                      "model is quantized and checked as it is")
    else:
        forms = ", ".join(sorted({s.form for s in sites}))
        reporter.info(f"replaced {len(sites)} GELU site(s) ({forms}) with {approx.name!r}")
    if where.kind == placement.MATMULS:
        dropped = [n for n in chosen if n != rewrites.GELU and not rewrites.get(n).float_too]
        chosen = [n for n in chosen if n not in dropped]
        if dropped:
            reporter.info(f"rewrites {', '.join(dropped)} left out: they make ops int8-friendly, "
                          "and those ops run in float here (placement matmuls)")
    fit_x = batch.take(ctx.data.x_calib, slice(0, stream_scale.FIT_SAMPLES))
    ropts = rewrites.Options(target=opts.target,
                             run=lambda m: describe(reference).call(m, fit_x))
    found = rewrites.find_all(reference, chosen, ropts)
    rewrite_sites = _rewrite_sites(reference, found, small)
    for rname, matches in found.items():
        if matches:
            reporter.info(f"rewrite {rname}: {len(matches)} site(s)")
    record = ApproximateRecord(approx=approx.name, sites=sites, auto=choice,
                               target=opts.target,
                               rewrites=chosen,
                               rewrite_sites=rewrite_sites,
                               fitted=stream_scale.scales_of(
                                   found.get(stream_scale.REWRITE.name, [])),
                               placement=where.kind, placement_reason=where.reason)
    artifacts.clear_from(ctx.out, "approximate")
    with artifacts.atomic_path(ctx.out / artifacts.MODEL_APPROX) as tmp:
        model, undo_gelu = gelu.replace(reference, approx, gelus)
        try:
            model, undo_rest = rewrites.apply_all(model, found, ropts)
            try:
                want = _outputs(model, probe)
            finally:
                # Swapped classes and methods are not saved (Keras names saved weights after
                # the classes): the rewrites are applied again on every load.
                undo_rest()
            model.save(tmp)
        finally:
            undo_gelu()  # the reference is the float model again
        # Reloaded and compared before the rename: a model that does not reproduce itself
        # never lands under its final name. The reloaded model is the one later stages use.
        model = load_rewritten(tmp, record)
        got = _outputs(model, probe)
        if not np.allclose(want, got, atol=RELOAD_TOL, rtol=0):
            raise CheckFailed(
                f"{opts.source or 'the model'}: the replaced model does not reproduce itself "
                f"after save and reload (max difference {float(np.max(np.abs(want - got))):.3g});"
                " please report this model")
        if opts.fine_tune_epochs:
            record = record.model_copy(update={"fine_tune": fine_tune(
                model, ctx.data, opts.fine_tune_epochs, reporter)})
            model.save(tmp)
    ctx.approx_model = model
    return ctx.keep(record.model_copy(update={"seconds": time.monotonic() - start}))
