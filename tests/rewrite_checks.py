"""Shared checks of the rewrite tests: apply a rewrite, compare float outputs, convert to int8."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import rewrites
from pipeline.progress import Quiet
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite.converter import convert_model
from pipeline.tflite.graph import FLOAT_TYPES


def rewritten(model: Any, name: str, target: str = "rpi") -> tuple[Any, list[Any], Any]:
    """(model with the rewrite applied, its matches, undo)."""
    opts = rewrites.Options(target=target)
    matches = rewrites.get(name).find(model, opts)
    new, undo = rewrites.get(name).apply(model, matches, opts)
    return new, matches, undo


def int8_ops(model: Any, x: Any) -> tuple[dict[str, int], list[str]]:
    """(op counts of the int8 conversion, ops touching a float tensor)."""
    graph = tflite_graph.parse(convert_model(model, "int8", x, 1, Quiet()))
    floats = sorted({op.name for op in graph.ops
                     if any(graph.tensors[i].dtype in FLOAT_TYPES
                            for i in op.inputs + op.outputs if i >= 0)})
    return graph.op_counts(), floats


def max_diff(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
