"""Registry of graph rewrites, applied by the approximate stage in this order. `gelu` replaces
GELU with the approximation `--approx` names (`pipeline.rewrites.gelu`); the others swap in
int8-friendly equivalents that keep the weights, one module each. `--rewrites` chooses:
`all` (the default), `none`, a list (`gelu,layer-norm`) or `all` minus some
(`all,-attention-mask`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.records.approximate import ApproximateRecord
from pipeline.registry import Registry
from pipeline.rewrites import (
    attention_heads,
    attention_mask,
    grouped_conv,
    l2_normalize,
    layer_norm,
    masked_pooling,
    stream_scale,
)
from pipeline.rewrites.base import Match, Options, Rewrite, site_errors, undo_all

GELU = "gelu"
ALL, NONE = "all", "none"
REWRITES: Registry[Rewrite] = Registry.of("rewrite", (m.REWRITE for m in (
    grouped_conv, l2_normalize, masked_pooling, layer_norm, stream_scale,
    attention_mask, attention_heads)))


def names() -> list[str]:
    """Every rewrite's name, GELU's first."""
    return [GELU, *REWRITES]


def get(name: str) -> Rewrite:
    """A rewrite by name (not GELU's, which the approximations registry configures)."""
    if name in REWRITES:
        return REWRITES.get(name)
    raise REWRITES.unknown(name, names())


def parse(spec: str) -> list[str]:
    """`--rewrites` -> the names to apply, in registry order."""
    chosen: set[str] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part == ALL:
            chosen |= set(names())
        elif part == NONE:
            chosen.clear()
        elif part.startswith("-"):
            if part[1:] not in names():
                get(part[1:])
            chosen.discard(part[1:])
        elif part in names():
            chosen.add(part)
        else:
            get(part)
    return [n for n in names() if n in chosen]


def find_all(model: Any, chosen: list[str], opts: Options) -> dict[str, list[Match]]:
    """The matches of every chosen rewrite but GELU's, on the model as it is."""
    return {name: get(name).find(model, opts) for name in chosen if name != GELU}


def apply_all(model: Any, found: dict[str, list[Match]], opts: Options) -> tuple[Any, Any]:
    """Apply each rewrite to its matches, in order; (the model, one undo for all)."""
    undos = []
    for name, matches in found.items():
        if matches:
            model, undo = get(name).apply(model, matches, opts)
            undos.append(undo)
    return model, undo_all(undos)


def load(path: Path, record: ApproximateRecord) -> Any:
    """Load model_approx.keras and apply its record's rewrites again (GELU's included): what a
    layer rebuilds from its own config on loading (keras_hub's transformer layers rebuild their
    sublayers) comes back as it was before the rewrite, and the GELUs in layers' own code are
    routed again from the record's sites."""
    from pipeline import approximations
    from pipeline.inputs.models import load_model
    from pipeline.rewrites import gelu

    model = load_model(path)
    opts = Options(target=record.target, fitted=record.fitted)
    if GELU in record.rewrites:
        model, _ = gelu.replace(model, approximations.get(record.approx),
                                gelu.find(model, None, record.sites))
    model, _ = apply_all(model, find_all(model, record.rewrites, opts), opts)
    return model


__all__ = ["Rewrite", "Match", "Options", "REWRITES", "GELU", "names", "get", "parse",
           "find_all", "apply_all", "load", "site_errors"]
