"""The `matmuls` placement's model: ai-edge-quantizer's dynamic-range recipe applied to the
matrix ops of a float TFLite model (int8 weights, per channel or per tensor as the runtime
needs; the runtime's hybrid kernels quantize the input on the fly, multiply-accumulate in int8
and write float). Every other op stays float. The recipe is kept in the quantization plan, so
the same float model and recipe give the same bytes."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from pipeline.errors import CheckFailed
from pipeline.tfenv import captured_native_output
from pipeline.tflite import placement

WEIGHT_BITS = 8


def _entry(op: str, **config: Any) -> dict[str, Any]:
    """One recipe entry: every op of that kind, int8 arithmetic."""
    return {"regex": ".*", "operation": op, "algorithm_key": "min_max_uniform_quantize",
            "op_config": {**config, "compute_precision": "INTEGER", "explicit_dequantize": False,
                          "skip_checks": False, "min_weight_elements": 0}}


def _int8(granularity: str, symmetric: bool) -> dict[str, Any]:
    return {"num_bits": WEIGHT_BITS, "symmetric": symmetric, "granularity": granularity,
            "dtype": "INT"}


def recipe(granularity: str, ops: tuple[str, ...] = placement.MATRIX_OPS) -> list[dict[str, Any]]:
    """ai-edge-quantizer's recipe for int8 dynamic-range matrix ops (JSON-able)."""
    return [_entry(op, weight_tensor_config=_int8(granularity, True)) for op in ops]


def static_recipe(ops: tuple[str, ...]) -> list[dict[str, Any]]:
    """ai-edge-quantizer's recipe for static int8 ops (int8 activations from calibrated ranges,
    int8 weights per channel where they have weights)."""
    return [_entry(op, activation_tensor_config=_int8("TENSORWISE", False),
                   weight_tensor_config=_int8("CHANNELWISE", True)) for op in ops]


def quantize(float_model: bytes, plan_recipe: list[dict[str, Any]],
             ranges: dict[str, tuple[float, float]] | None = None) -> bytes:
    """The float model with the recipe applied; `ranges` (tensor name -> min, max) for the
    static ops."""
    import numpy as np
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(bytearray(float_model))
    q.load_quantization_recipe(plan_recipe)
    # The quantizer prints a size summary and a progress bar.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            captured_native_output():
        try:
            result = q.quantize({name: {"min": np.array([lo]), "max": np.array([hi])}
                                 for name, (lo, hi) in ranges.items()} if ranges else None)
        except (ValueError, RuntimeError) as exc:
            raise CheckFailed(f"ai-edge-quantizer could not apply the int8 matrix-op recipe: "
                              f"{str(exc).splitlines()[0]}") from None
    return bytes(result.quantized_model)
