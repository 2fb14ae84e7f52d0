"""The GELU rewrite: find every GELU a model computes and replace it with an approximation.

GELU is recognised numerically, not by name: a candidate is any function on a layer (its
`activation`, a Lambda's `function`) or any raw operation of a functional graph
(`keras.ops.gelu(x)`, `keras.activations.gelu(x)` on a KerasTensor) whose output matches exact
or tanh GELU on a probe grid. That covers `activation="gelu"`, `Activation` layers, Dense /
Conv / EinsumDense activations, layers nested in custom layers or in nested models, keras_hub's
transformer layers, and hand-written callables such as the classic tanh GELU with tf.math.pow;
and `keras.ops.gelu` called in a subclassed model's or custom layer's own `call()`
(`pipeline.rewrites.gelu_code`).

A site is a candidate that runs: calling the model once with counters in place tells an
activation that is computed from one that only configures an inner layer (keras_hub's
TransformerEncoder keeps `activation` and hands it to its feed-forward Dense: one site, the
Dense). Configuring attributes are replaced too, so that the layer saves and rebuilds itself
with the approximation, but they are not counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.approximations import Approximation, gelu_exact, gelu_tanh
from pipeline.records import Site
from pipeline.rewrites import gelu_code, keras_graph

# float32 GELU implementations agree with the float64 reference to ~1e-6; the tanh form differs
# from exact GELU by at most 4.7e-4. x*sigmoid(1.702x), the closest common non-GELU, is 0.02 off.
GELU_MATCH_TOL = 2e-3
PROBE = np.linspace(-6.0, 6.0, 241, dtype=np.float32).reshape(1, -1)
# The attributes that hold an elementwise function: every layer's activation, a Lambda's function.
FUNCTION_ATTRS = {"Lambda": "function"}
RAW_OP = "op"


def gelu_form(fn: Any) -> str | None:
    """'exact' or 'tanh' if calling `fn` on the probe grid gives GELU, else None."""
    if not callable(fn):
        return None
    import keras

    if fn is keras.activations.linear:
        return None
    try:
        out = keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(PROBE)))
    except Exception:  # a callable that cannot take one float tensor is not an elementwise GELU
        return None
    out = np.asarray(out, dtype=np.float64)
    if out.shape != PROBE.shape or not np.all(np.isfinite(out)):
        return None
    err_exact = float(np.max(np.abs(out - gelu_exact(PROBE))))
    err_tanh = float(np.max(np.abs(out - gelu_tanh(PROBE))))
    if min(err_exact, err_tanh) > GELU_MATCH_TOL:
        return None
    return "exact" if err_exact <= err_tanh else "tanh"


def _attribute_candidates(model: Any) -> list[tuple[str, Any, str, str]]:
    """(layer path, layer, attribute, form) for every layer function that computes GELU."""
    found = []
    for path, layer in keras_graph.walk(model):
        attr = FUNCTION_ATTRS.get(type(layer).__name__, "activation")
        form = gelu_form(getattr(layer, attr, None))
        if form is not None:
            found.append((path, layer, attr, form))
    return found


def _op_candidates(model: Any) -> list[tuple[str, Any, str]]:
    """(op path, op, form) for every raw graph operation that computes GELU."""
    return [(path, op, form) for path, op, _ in keras_graph.graph_nodes(model)
            if (form := gelu_form(op)) is not None]


@dataclass
class Found:
    """What `find` saw: the sites, and the configuring attributes that are not sites."""

    sites: list[Site]
    attributes: list[tuple[Any, str]]  # every GELU attribute, sites and configuring ones
    ops: list[Any]  # raw GELU operations
    code: list[Any] = field(default_factory=list)  # layers whose own call() computes GELU


def _code_sites(model: Any, run: Callable[[Any], Any], holders: set[int]
                ) -> tuple[list[Site], list[Any]]:
    """GELU computed in a layer's own code (`gelu_code`), by one eager `run(model)`."""
    paths = {id(layer): path for path, layer in keras_graph.walk(model)}
    layers = [layer for _, layer in keras_graph.walk(model)
              if id(layer) not in holders and not keras_graph.is_functional(layer)]
    hidden = gelu_code.find_hidden(model, run, layers)
    sites = [Site(path=f"{paths[id(h.layer)]}.{gelu_code.ATTR}",
                  layer_class=type(h.layer).__name__, form=h.form, kind=gelu_code.CODE,
                  calls=h.calls) for h in hidden]
    return sites, [h.layer for h in hidden]


def find(model: Any, run: Callable[[Any], Any] | None, known: list[Site] | None = None
         ) -> Found:
    """Every GELU site of `model`. `run(model)` calls the model once on a sample (eagerly);
    without it (reloading a model whose sites are known) every GELU attribute counts, and the
    GELUs in layers' own code are the ones `known` lists."""
    attrs = _attribute_candidates(model)
    calls = keras_graph.called_attributes(model, [(layer, a) for _, layer, a, _ in attrs], run) \
        if run is not None else [1] * len(attrs)
    sites = [Site(path=f"{path}.{attr}", layer_class=type(layer).__name__, form=form,
                  calls=n) for (path, layer, attr, form), n in zip(attrs, calls) if n > 0]
    ops = _op_candidates(model)
    sites += [Site(path=f"{path}.activation", layer_class=type(op).__name__, form=form,
                   kind=RAW_OP) for path, op, form in ops]
    if run is not None:
        code_sites, code = _code_sites(model, run, {id(layer) for _, layer, _, _ in attrs})
    else:
        code_sites = [s for s in known or [] if s.kind == gelu_code.CODE]
        code = [keras_graph.layer_at(model, s.layer) for s in code_sites]
    return Found(sites=sites + code_sites, attributes=[(layer, a) for _, layer, a, _ in attrs],
                 ops=[op for _, op, _ in ops], code=code)


def replace(model: Any, approx: Approximation, found: Found
            ) -> tuple[Any, Callable[[], None]]:
    """Replace what `find` found with `approx`: (the model, a function that undoes it). The
    model is a rebuilt one when raw operations were replaced (each becomes an `Activation`
    layer of the op's name); layers are shared with the original either way, and undoing puts
    their functions back, so the original can serve as the float reference again."""
    import keras

    originals = [getattr(layer, attr) for layer, attr in found.attributes]
    for layer, attr in found.attributes:
        setattr(layer, attr, approx.keras_fn)
    unroute = [gelu_code.route(layer, approx.keras_fn) for layer in found.code]
    replaced = model
    if found.ops:
        def activation(op: Any, *args: Any, **kwargs: Any) -> Any:
            return keras.layers.Activation(approx.keras_fn, name=op.name)(*args)

        replaced = keras_graph.rebuild(model, {id(op): activation for op in found.ops})

    def undo() -> None:
        for (layer, attr), fn in zip(found.attributes, originals):
            setattr(layer, attr, fn)
        for fn in unroute:
            fn()
        _forget_traces(model)

    _forget_traces(replaced)
    return replaced, undo


def _forget_traces(model: Any) -> None:
    """Keras caches traced predict/train functions; drop them so the current functions run."""
    for attr in ("predict_function", "train_function", "test_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)
