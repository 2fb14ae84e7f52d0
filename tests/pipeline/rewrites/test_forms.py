"""Each rewrite's `find` on every form of model a user writes (tests/model_forms.py), loaded as
the build loads it: the next rewrite cannot break one form unnoticed."""

from __future__ import annotations

from pathlib import Path

import model_forms
import numpy as np
import pytest

from pipeline import rewrites
from pipeline.inputs.models import import_custom_objects, load_model
from pipeline.inputs.signature import describe
from pipeline.rewrites import gelu, gelu_code, keras_graph


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    """form name -> (the model as the build loads it, a probe sample), each made once."""
    import_custom_objects(model_forms.USER_LAYERS)
    folder = tmp_path_factory.mktemp("forms")
    made: dict[str, tuple[object, object]] = {}

    def get(name: str) -> tuple[object, object]:
        if name not in made:
            form = model_forms.FORMS[name]
            model_path, data_path = model_forms.save(form, folder)
            made[name] = load_model(model_path), model_forms.probe(form, data_path)
        return made[name]
    return get


@pytest.mark.parametrize("target", ["rpi", "coral"])
@pytest.mark.parametrize("name", list(model_forms.FORMS))
def test_every_rewrite_finds_its_pattern_on_every_form(loaded, name: str, target: str) -> None:
    model, x = loaded(name)
    form = model_forms.FORMS[name]
    signature = describe(model)
    found = gelu.find(model, lambda m: signature.call(m, x))
    assert len(found.sites) == form.sites, [s.path for s in found.sites]
    opts = rewrites.Options(target=target, run=lambda m: signature.call(m, x))
    counts = {n: len(rewrites.get(n).find(model, opts)) for n in rewrites.REWRITES}
    assert counts == {n: dict(form.finds).get(n, 0) for n in rewrites.REWRITES}


def test_a_gelu_in_call_is_found_and_routed(loaded) -> None:
    """keras.ops.gelu in a subclassed model's call(): one site of kind `code`, replaced by
    routing, and the undo restores exact GELU."""
    from pipeline import approximations

    model, x = loaded("subclassed")
    signature = describe(model)
    run = lambda m: signature.call(m, x)  # noqa: E731
    before = np.asarray(signature.call(model, x)[0])
    found = gelu.find(model, run)
    code = [s for s in found.sites if s.kind == gelu_code.CODE]
    net = model.layers[1].name  # the subclassed model, inside the functional wrapper
    assert [s.path for s in code] == [f"{net}.call_gelu"] and code[0].form == "tanh"
    replaced, undo = gelu.replace(model, approximations.get("hard"), found)
    changed = np.asarray(signature.call(replaced, x)[0])
    undo()
    after = np.asarray(signature.call(model, x)[0])
    assert (before == after).all() and not (before == changed).all()


def test_paths_inside_subclassed_models_do_not_depend_on_the_load(tmp_path: Path) -> None:
    """Keras names a layer made in __init__ after how many of its class the process made
    before ("dense_7"); paths use the attribute that holds it instead, so the float model
    and the model reloaded later agree."""
    import_custom_objects(model_forms.USER_LAYERS)
    path, _ = model_forms.save(model_forms.FORMS["subclassed"], tmp_path)
    first = [p for p, _ in keras_graph.walk(load_model(path))]
    model_forms.functional()  # more Dense layers made in between
    second = [p for p, _ in keras_graph.walk(load_model(path))]
    assert first == second and f"{first[1]}/up" in first, first  # the attribute's name
