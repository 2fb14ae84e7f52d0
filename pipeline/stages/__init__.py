"""The five stages, in the one order a build runs them. Each is a module (or package) of this
folder with the same contract, `run(ctx, options, reporter) -> Record`: it reads what the
earlier stages left in the context (or in the build folder, when it runs alone), writes its
artifacts and its record, and hands the record on. No stage imports another.

This module stays light (no TensorFlow): `pipeline.artifacts` takes the order from here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ORDER: tuple[str, ...] = ("train", "approximate", "convert", "parity", "report")


def module(name: str) -> ModuleType:
    """A stage's module by name (imported on first use)."""
    if name not in ORDER:
        raise KeyError(f"unknown stage {name!r}; the stages are {', '.join(ORDER)}")
    return importlib.import_module(f"pipeline.stages.{name}")
